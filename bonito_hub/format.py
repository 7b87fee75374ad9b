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
# training code): BOS, this, the response, EOS. The third, chat, is the tokenizer's chat template.
PLAIN_PROMPT = "{input}\n\n"
BONITO_PROMPT = "<|input|>\n{input}\n<|output|>\n"
STUDENT_PROMPTS = {"plain": PLAIN_PROMPT, "bonito": BONITO_PROMPT}
PROMPT_STYLES = ("chat", *STUDENT_PROMPTS)

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
