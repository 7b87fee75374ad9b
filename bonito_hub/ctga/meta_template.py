"""Meta-templates: promptsource templates turned into (passage, instruction, response) makers.

A promptsource template shows a source's passage field somewhere in its prompt. We rewrite its
Jinja so that every expression printing the passage field goes through a marking filter, render
the example as promptsource would, and replace the marked text in the instruction by the literal
placeholder `{{context}}` (in the response too, where a text-generation template prints the passage
as its answer). The passage of the CTGA row is the text that expression printed:
`dialogue | join("\\n\\n")` gives the dialogue with blank lines between turns, the loop over
wiki_hop's `supports` gives a "- " list, and qasc's `fact1[0]|capitalize` + `fact1[1:]` joins
into one passage.

Rendering is sandboxed (the templates are third-party text) and deterministic: random choices
inside a template (`| choice`) come from a generator seeded by the caller.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass

from jinja2 import meta, pass_context
from jinja2.sandbox import SandboxedEnvironment

from bonito_hub.ctga.promptsource import Template
from bonito_hub.format import CONTEXT_PLACEHOLDER

# promptsource truncated every substituted field to this many characters (Jinja's `truncate`).
TRUNCATE_CHARS = 2048
# promptsource protects "|||" inside example strings with this token while splitting.
PIPE_PROTECTOR = "3ed2dface8203c4c9dfb1a5dc58e41e0"
SEPARATOR = "|||"

_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK_RE = re.compile(f"(?:{_MARK_OPEN}\\d+{_MARK_CLOSE})+")
_ONE_MARK_RE = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")
_EXPR_RE = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
# The row's seeded generator travels in the render context under this name. Random filters read it
# there: a filter that took it from anywhere else could be evaluated once, when Jinja compiles the
# template (it folds filters over constant arguments, so `["A", "B", "C", "D"] | choice` would give
# every row the same letter); filters that take the context are never folded.
_RNG = "bonito_row_rng__"


@pass_context
def _choice(context, seq):
    return context[_RNG].choice(seq)


class RenderSkip(Exception):
    """A row that yields no CTGA example, with a reason name for the counts."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Rendered:
    passage: str
    instruction: str  # refers to the passage as {{context}}
    response: str


def _most_frequent(items):
    if not items:
        return None
    counts = Counter(items).most_common()
    top = counts[0][1]
    return [item for item, n in counts if n == top]


def _highlight(text):
    # promptsource's UI filter; kept so that templates using it render the same text.
    return "<span style='color: #F08080'>" + text + "</span>"


def _split_choices(text: str) -> list[str]:
    return [c.strip().replace(PIPE_PROTECTOR, SEPARATOR) for c in text.split(SEPARATOR)]


class Renderer:
    """Renders meta-templates. One per process: it keeps per-render state (the marked passage
    pieces) on itself."""

    def __init__(self, truncate: bool = True):
        self.truncate = truncate
        self.env = SandboxedEnvironment()
        self.env.globals["zip"] = zip
        # promptsource's `choice`, and Jinja's own `random` (which would draw from the global
        # generator): both draw from the row's generator
        self.env.filters["choice"] = _choice
        self.env.filters["random"] = _choice
        self.env.filters["most_frequent"] = _most_frequent
        self.env.filters["highlight"] = _highlight
        self.env.filters["bonito_passage"] = self._mark
        self._pieces: list[str] = []
        self._compiled: dict[tuple[str, str], tuple] = {}

    # -- compilation -------------------------------------------------------------------------
    def meta_jinja(self, template: Template, passage_field: str) -> str:
        """The template's Jinja with the passage expressions routed through the marking filter."""
        source = template.jinja
        if self.truncate:
            # Exactly what promptsource did to every expression before rendering.
            source = source.replace("}}", f" | string | truncate({TRUNCATE_CHARS}) }}}}")
        field = re.escape(passage_field)
        # An expression prints the passage when it is the field itself, optionally indexed or
        # sliced (dream's dialogue[:-1]), then filtered. Method calls (passage.split(...)) derive
        # other text from it and are left alone.
        passage_expr = re.compile(rf"^\s*{field}\s*(\[[^\]]*\]\s*)*(\|.*)?$", re.S)

        def wrap(m: re.Match) -> str:
            inner = m.group(2)
            if passage_expr.match(inner):
                return f"{{{{{m.group(1)} ({inner.strip()}) | bonito_passage {m.group(3)}}}}}"
            return m.group(0)

        source = _EXPR_RE.sub(wrap, source)
        loop = re.compile(
            rf"\{{%-?\s*for\s+\w+\s+in\s+{field}\s*-?%\}}.*?\{{%-?\s*endfor\s*-?%\}}", re.S
        )
        source = loop.sub(lambda m: "{% filter bonito_passage %}" + m.group(0) + "{% endfilter %}", source)
        return source

    def compile(self, template: Template, passage_field: str):
        key = (template.id, passage_field)
        compiled = self._compiled.get(key)
        if compiled is None:
            body = self.env.from_string(self.meta_jinja(template, passage_field))
            choices = None
            if template.answer_choices:
                parsed = self.env.parse(template.answer_choices)
                if meta.find_undeclared_variables(parsed) or re.search(r"\|\s*(choice|random)\b", template.answer_choices):
                    choices = self.env.from_string(template.answer_choices)
                else:  # the same list for every row: render it once
                    choices = _split_choices(self.env.from_string(template.answer_choices).render())
            compiled = self._compiled[key] = (body, choices)
        return compiled

    def _mark(self, text) -> str:
        self._pieces.append(str(text))
        return f"{_MARK_OPEN}{len(self._pieces) - 1}{_MARK_CLOSE}"

    # -- rendering ---------------------------------------------------------------------------
    def render(self, template: Template, passage_field: str, example: dict, rng: random.Random) -> Rendered:
        """Render one example; raises RenderSkip with a reason when it yields no CTGA row."""
        body, choices = self.compile(template, passage_field)
        protected = {k: v.replace(SEPARATOR, PIPE_PROTECTOR) if isinstance(v, str) else v for k, v in example.items()}
        if "answer_choices" in protected:
            raise RenderSkip("template_error", "example has a column named answer_choices")
        self._pieces = []
        protected[_RNG] = rng
        try:
            if isinstance(choices, list):
                protected["answer_choices"] = list(choices)
            elif choices is not None:
                protected["answer_choices"] = _split_choices(choices.render(**protected))
            else:
                protected["answer_choices"] = None
            text = body.render(**protected)
        except Exception as exc:  # third-party template on third-party data: count, never crash
            raise RenderSkip("template_error", f"{type(exc).__name__}: {exc}") from None
        parts = text.split(SEPARATOR)
        if len(parts) != 2:
            raise RenderSkip("no_response" if len(parts) < 2 else "several_separators")
        pieces = [p.replace(PIPE_PROTECTOR, SEPARATOR) for p in self._pieces]
        prompt, response = (p.replace(PIPE_PROTECTOR, SEPARATOR) for p in parts)

        def group_text(m: re.Match) -> str:
            return "".join(pieces[int(i)] for i in _ONE_MARK_RE.findall(m.group(0)))

        groups = {group_text(m).strip() for m in _MARK_RE.finditer(prompt)}
        if not groups:
            # Text-generation templates print the passage only as the response ("write a dialogue
            # that matches this summary ||| {{dialogue}}"): the task is to write the passage itself.
            groups = {group_text(m).strip() for m in _MARK_RE.finditer(response)}
        if not groups:
            raise RenderSkip("passage_not_in_instruction")
        if len(groups) > 1:
            raise RenderSkip("passage_split")
        passage = groups.pop()
        if not passage:
            raise RenderSkip("empty_passage")
        instruction = _MARK_RE.sub(CONTEXT_PLACEHOLDER, prompt).strip()
        # In the response, only a verbatim copy of the passage becomes the placeholder; other
        # pieces of the field (dream's last turn) stay as text.
        response = _MARK_RE.sub(
            lambda m: CONTEXT_PLACEHOLDER if group_text(m).strip() == passage else group_text(m), response
        ).strip()
        if not response:
            raise RenderSkip("empty_response")
        return Rendered(passage, instruction, response)
