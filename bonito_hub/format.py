"""The exact text format of Bonito generators trained on CTGA-v1.

Generator input:  "<|tasktype|>\\n" + FULL_TASK_TYPE + "\\n<|context|>\\n" + passage.strip() + "\\n<|task|>\\n"
Generator target: INSTRUCTION + "\\n<|pipe|>\\n" + RESPONSE
The markers are plain text, not special tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from bonito_hub.tasks import to_full

TASKTYPE_MARKER = "<|tasktype|>"
CONTEXT_MARKER = "<|context|>"
TASK_MARKER = "<|task|>"
PIPE = "<|pipe|>"
CONTEXT_PLACEHOLDER = "{{context}}"


def generator_input(task_type: str, passage: str) -> str:
    """The prompt a Bonito generator reads, for a task type (short or full name) and a passage."""
    return f"{TASKTYPE_MARKER}\n{to_full(task_type)}\n{CONTEXT_MARKER}\n{passage.strip()}\n{TASK_MARKER}\n"


def generator_target(instruction: str, response: str) -> str:
    """What the generator learns to write; the instruction refers to the passage as {{context}}."""
    return f"{instruction}\n{PIPE}\n{response}"


# A student's prompt style: how it sees an instruction (recipes/sft.py trains it so; `bonito
# evaluate` prompts it so). plain, for base models without a chat template: the instruction, a
# blank line, then the response (and EOS). bonito, the paper's style for base models (Bonito's
# training code): BOS, this, the response, EOS. instruct, the paper's prompt for a pretrained
# model evaluated without adaptation ("Instruct: ...\nAnswer:"). The fourth, chat, is the
# tokenizer's chat template.
PLAIN_PROMPT = "{input}\n\n"
BONITO_PROMPT = "<|input|>\n{input}\n<|output|>\n"
INSTRUCT_PROMPT = "Instruct: {input}\nAnswer:"
# inst: how the paper's evaluation prompts an instruction-tuned student (Mistral-7B-Instruct-v0.2,
# evaluation/merge_and_evaluate_squad.py: "[INST] " + input + " [/INST]"), its answer scored as the
# answer's tokens alone, without EOS; `bonito evaluate --protocol paper` scores a chat student so.
INST_PROMPT = "[INST] {input} [/INST]"
STUDENT_PROMPTS = {"plain": PLAIN_PROMPT, "bonito": BONITO_PROMPT, "instruct": INSTRUCT_PROMPT, "inst": INST_PROMPT}
PROMPT_STYLES = ("chat", *STUDENT_PROMPTS)
EVALUATION_ONLY = ("inst",)  # a style no student is trained with: its answers end without EOS


def _ids(encoded) -> list[int]:
    """Token ids from what a tokenizer call returned (a list, or a BatchEncoding in transformers 5)."""
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def _chat(tokenizer, messages: list[dict], generation_prompt: bool) -> list[int]:
    return _ids(tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True))


def styled(text: str, style: str) -> str:
    """The text of a prompt in a prompt style other than chat (plain, bonito, instruct)."""
    return STUDENT_PROMPTS[style].format(input=text.strip())


def encode_prompt(tokenizer, text: str, style: str | None = None, max_tokens: int | None = None) -> list[int]:
    """The tokens a model reads before its response: in `style` (None: the text as it is, as the
    generator reads its input), BOS first; at most `max_tokens` of them, cut at the end as the
    paper's evaluation cuts its prompts. Training and evaluation both take their prompts from here."""
    if style == "chat":
        ids = _chat(tokenizer, [{"role": "user", "content": text}], generation_prompt=True)
    else:
        prompt = styled(text, style) if style else text
        ids = _ids(tokenizer(prompt, add_special_tokens=True))
        if tokenizer.bos_token_id is not None and (not ids or ids[0] != tokenizer.bos_token_id):
            ids = [tokenizer.bos_token_id] + ids
    return ids[:max_tokens] if max_tokens else ids


def encode_response(tokenizer, text: str, response: str, style: str | None = None) -> list[int]:
    """The tokens of `response` after the prompt `text`, as training puts them there: tokenised on
    their own, then EOS; with a chat template, what the template adds to the conversation for the
    assistant's turn (TRL's completion tokens)."""
    if style == "chat":
        prompt = encode_prompt(tokenizer, text, "chat")
        whole = _chat(tokenizer, [{"role": "user", "content": text}, {"role": "assistant", "content": response}],
                      generation_prompt=False)
        return whole[len(prompt):]
    answer = _ids(tokenizer(response, add_special_tokens=False))
    return answer if style in EVALUATION_ONLY else answer + [tokenizer.eos_token_id]

# Reasons a generation is rejected, as they appear in funnels and cards.
NO_SEPARATOR = "no_separator"
SEVERAL_SEPARATORS = "several_separators"
EMPTY_INSTRUCTION = "empty_instruction"
EMPTY_RESPONSE = "empty_response"


@dataclass(frozen=True)
class ParsedTask:
    """One parsed generation: `input` for the student, `output` its response; or why it was rejected."""

    input: str | None
    output: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def parse_generation(generation: str, passage: str) -> ParsedTask:
    """Parse a generator's text into (instruction, response) with the passage put back.

    Split on <|pipe|>; keep only exactly two parts; strip both; replace every {{context}} in
    both with the stripped passage.
    """
    parts = generation.split(PIPE)
    if len(parts) < 2:
        return ParsedTask(None, None, NO_SEPARATOR)
    if len(parts) > 2:
        return ParsedTask(None, None, SEVERAL_SEPARATORS)
    instruction, response = (p.strip() for p in parts)
    if not instruction:
        return ParsedTask(None, None, EMPTY_INSTRUCTION)
    if not response:
        return ParsedTask(None, None, EMPTY_RESPONSE)
    context = passage.strip()
    return ParsedTask(
        instruction.replace(CONTEXT_PLACEHOLDER, context),
        response.replace(CONTEXT_PLACEHOLDER, context),
    )
