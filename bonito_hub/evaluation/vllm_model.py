"""`bonito-vllm`: lm-eval's vLLM model scoring the tokens training wrote (bonito_hub.evaluation.model).

lm-eval's own `vllm` model tokenises prompt + choice as one string, and its prompt as text with
BOS; this one takes both from bonito_hub.format, as `bonito-hf` does, so a choice is scored on the
same token ids on vLLM as on transformers, and a generation reads the same prompt tokens. Imported
only where vLLM is (lm-eval's vLLM module imports it).
"""

from __future__ import annotations

from lm_eval.api.registry import register_model
from lm_eval.models.vllm_causallms import VLLM

from bonito_hub.evaluation.model import StudentTokens
from bonito_hub.format import encode_prompt

MODEL_NAME = "bonito-vllm"


@register_model(MODEL_NAME)
class BonitoVLLM(StudentTokens, VLLM):
    def __init__(self, *args, prompt_style: str = "plain", max_prompt_tokens: int | str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._student(prompt_style, max_prompt_tokens)

    def tok_encode(self, string, add_special_tokens=None, **kwargs):
        """A prompt's tokens in the student's style, BOS first (lm-eval's generation reads its
        contexts through here); uncut, as bonito-hf's generation reads them."""
        strings = [string] if isinstance(string, str) else list(string)
        encoded = [encode_prompt(self.tokenizer, s, self.prompt_style) for s in strings]
        return encoded[0] if isinstance(string, str) else encoded
