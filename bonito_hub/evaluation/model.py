"""lm-eval's models, scoring what the student was trained to write.

lm-eval's own `hf` and `vllm` models score a choice by tokenising prompt + choice as one string and
taking the tokens past the prompt's: a SentencePiece student (Mistral, Llama-2) is then scored on
`<0x0A>`, `yes` where it was trained to write `▁yes`, `</s>`. `bonito-hf` (lm-eval's Hugging Face
model) and `bonito-vllm` (lm-eval's vLLM model, bonito_hub.evaluation.vllm_model) take their
prompts and answers from bonito_hub.format instead, the functions training takes them from, so
the tokens scored are the same on either backend:

  context      BOS + the prompt in the student's prompt style (`prompt_style`: plain, bonito,
               instruct, inst, or chat through the tokenizer's template), cut to
               `max_prompt_tokens` at its end as the paper's evaluation cuts it (1,024 there; none
               by default)
  continuation the choice tokenised on its own, then EOS (with a chat template: the assistant
               turn's tokens, as TRL trains them; inst: without EOS, as the paper scored its chat
               model)

Generation (extractive QA) reads the same context, uncut, and lm-eval decodes greedily.
`python -m bonito_hub.evaluation.lm_eval` is lm-eval's command line with these models registered.
"""

from __future__ import annotations

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from bonito_hub.format import encode_prompt, encode_response

MODEL_NAME = "bonito-hf"


class StudentTokens:
    """What both models share: the prompt style, the paper's cut, and the pair of token lists a
    choice is scored on (lm-eval's `_encode_pair`)."""

    def _student(self, prompt_style: str, max_prompt_tokens: int | str | None) -> None:
        self.prompt_style = prompt_style
        self.max_prompt_tokens = int(max_prompt_tokens) if max_prompt_tokens not in (None, "", "None") else None

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        return (encode_prompt(self.tokenizer, context, self.prompt_style, self.max_prompt_tokens),
                encode_response(self.tokenizer, context, continuation, self.prompt_style))


@register_model(MODEL_NAME)
class BonitoLM(StudentTokens, HFLM):
    def __init__(self, *args, prompt_style: str = "plain", max_prompt_tokens: int | str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._student(prompt_style, max_prompt_tokens)

    def tok_batch_encode(self, strings: list[str], padding_side: str = "left", left_truncate_len: int | None = None,
                         truncation: bool = False):
        import torch

        encoded = [encode_prompt(self.tokenizer, s, self.prompt_style) for s in strings]
        if left_truncate_len:
            encoded = [ids[-left_truncate_len:] for ids in encoded]
        width = max(map(len, encoded))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, e in enumerate(encoded):
            start = width - len(e) if padding_side == "left" else 0
            ids[row, start:start + len(e)] = torch.tensor(e, dtype=torch.long)
            mask[row, start:start + len(e)] = 1
        return ids, mask
