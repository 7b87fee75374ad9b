"""The paper's prompts, rendered as its released evaluation code renders them.

The templates (data/evaluation/paper_prompts.yaml) are promptsource templates, and the paper's
code applies them with promptsource 0.2.3's `Template.apply`, whose every detail shapes the text:
each `}}` becomes `| string | truncate(2048) }}` (every substituted field is cut at 2,048
characters at a word boundary, with "..." appended), a "|||" inside a field is protected from the
split, the answer choices are the template's `answer_choices` rendered and split on "|||", and
the rendered text is split on "|||" with each part stripped. `render` does exactly that, with
promptsource's filters (`choice`, `most_frequent`) and `zip`.

One difference cannot be avoided: promptsource's `choice` draws from Python's unseeded global
random generator, so the paper's `question_num_hint_answer` prompts ("Question 7: ..." or
"Problem 3: ...") differ from run to run. Here each row draws from a generator seeded by (seed,
target, template, row), so a run is repeatable; docs/protocol.md says so.
"""

from __future__ import annotations

import random
from collections import Counter
from functools import lru_cache

import yaml

from bonito_hub import resources
from bonito_hub.errors import InputError

TEXT_VAR_LENGTH = 2048  # promptsource 0.2.3's cut of every substituted field
PIPE_PROTECTOR = "3ed2dface8203c4c9dfb1a5dc58e41e0"  # promptsource's stand-in for "|||" inside a field


@lru_cache(maxsize=1)
def paper_templates() -> dict[str, list[dict]]:
    """Target name -> its five templates ({"name", "jinja", "answer_choices"})."""
    return yaml.safe_load(resources.read_text("evaluation/paper_prompts.yaml"))


def _most_frequent(items):
    if not items:
        return None
    counts = Counter(items).most_common()
    return [item for item, n in counts if n == counts[0][1]]


def _environment(rng: random.Random):
    from jinja2 import BaseLoader
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(loader=BaseLoader())
    env.globals.update(zip=zip)
    env.filters["choice"] = rng.choice
    env.filters["most_frequent"] = _most_frequent
    return env


def _protect(row: dict) -> dict:
    return {k: v.replace("|||", PIPE_PROTECTOR) if isinstance(v, str) else v for k, v in row.items()}


def answer_choices(template: dict, row: dict) -> list[str] | None:
    if template.get("answer_choices") is None:
        return None
    rendered = _environment(random.Random(0)).from_string(template["answer_choices"]).render(**_protect(row))
    return [choice.strip().replace(PIPE_PROTECTOR, "|||") for choice in rendered.split("|||")]


def render(template: dict, row: dict, rng: random.Random) -> tuple[str, str, list[str] | None]:
    """(prompt, gold answer, answer choices) of `row` under `template`, as promptsource's apply."""
    if "answer_choices" in row:
        raise InputError("a row holds the field 'answer_choices', which promptsource reserves")
    choices = answer_choices(template, row)
    jinja = template["jinja"].replace("}}", f" | string | truncate({TEXT_VAR_LENGTH}) }}}}")
    rendered = _environment(rng).from_string(jinja).render(**_protect(row), answer_choices=choices)
    parts = [part.replace(PIPE_PROTECTOR, "|||").strip() for part in rendered.split("|||")]
    if len(parts) != 2:
        raise InputError(f"template {template['name']!r} rendered {len(parts)} parts, not a prompt and an answer")
    return parts[0], parts[1], choices
