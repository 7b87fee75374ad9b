"""A scripted task generator with the `Engine` contract (bonito_hub.generate.engines.Engine),
for tests and benchmarks that exercise everything around the engine without a model.

`ScriptedEngine()` writes, for each prompt and sample, one of a fixed set of task shapes about
the prompt's passage, chosen by a generator seeded with (seed, prompt number, sample): extractive
questions answered by a passage word, yes/no questions, a task that leaves a `{context}` in its
text, a duplicate of the first sample, and text without the `<|pipe|>` separator. So its output
exercises the parse rule and every filter, and depends on the chunk's seed as a model's would.
`ScriptedEngine(outputs=[...])` answers every prompt with exactly those texts instead.
"""

from __future__ import annotations

import random
from typing import Callable

from bonito_hub.format import CONTEXT_MARKER, TASK_MARKER


def passage_of(prompt: str) -> str:
    """The passage inside a generator prompt (bonito_hub.format.generator_input)."""
    return prompt.split(f"{CONTEXT_MARKER}\n", 1)[-1].rsplit(f"\n{TASK_MARKER}", 1)[0]


def _scripted_task(passage: str, rng: random.Random, first: str | None) -> str:
    words = [w.strip(".,;:!?\"'()") for w in passage.split()]
    words = [w for w in words if w] or ["none"]
    i = rng.randrange(len(words))
    shape = rng.randrange(6)
    if shape == 0:
        follower = words[i + 1] if i + 1 < len(words) else words[0]
        return f"{{{{context}}}}\nWhich word follows '{words[i]}'?\n<|pipe|>\n{follower}"
    if shape == 1:
        return f"{{{{context}}}}\nDoes the passage say '{words[i]}'?\n<|pipe|>\n{rng.choice(['yes', 'no'])}"
    if shape == 2:
        return f"Given {{ context }}, name a word.\n<|pipe|>\n{words[i]}"
    if shape == 3 and first is not None:
        return first
    if shape == 4:
        return f"{{{{context}}}}\nName word {i}.\n<|pipe|>\nsomething not in the passage"
    return f"{words[i]} and no separator"


class ScriptedEngine:
    """A stand-in engine (see the module's docstring)."""

    name = "scripted"

    def __init__(self, outputs: list[str] | None = None, tokenizer=None, max_context: int = 512,
                 model_name: str = "scripted"):
        from bonito_hub.testing import make_tokenizer

        self.outputs = outputs
        self.tokenizer = tokenizer or make_tokenizer()
        self.max_context = max_context
        self.model_name = model_name
        self.calls: list[tuple[list[str], object, int]] = []  # (prompts, sampling, seed) of each call

    def generate(self, prompts: list[str], sampling, seed: int,
                 progress: Callable[[int], object] | None = None) -> list[list[str]]:
        self.calls.append((list(prompts), sampling, seed))
        results = []
        for i, prompt in enumerate(prompts):
            if self.outputs is not None:
                results.append(list(self.outputs))
                continue
            texts: list[str] = []
            for k in range(sampling.n):
                rng = random.Random(f"{seed}/{i}/{k}")
                texts.append(_scripted_task(passage_of(prompt), rng, texts[0] if texts else None))
            results.append(texts)
        if progress is not None:
            progress(len(prompts))
        return results
