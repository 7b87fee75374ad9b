"""The advice in every message names a flag of the command the user ran: every error template in
the library that tells the user to pass, set or give an option in backticks is walked, and, for
each command that runs the code holding it, the option must be one of that command's flags (the
command line says the flag in its place; bonito_hub.commands.base.Command.explain)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import bonito_hub
from bonito_hub.cli import build_parser

PACKAGE = Path(bonito_hub.__file__).parent
# the library code each command runs (module paths under bonito_hub, a folder meaning all of it)
RUNS = {
    "generate": ["corpus", "documents", "generate", "heldout", "overlap", "folders", "models", "hub", "tasks"],
    "check-overlap": ["overlap", "corpus", "documents", "targets", "folders", "hub", "tasks"],
    "evaluate": ["evaluation", "models", "folders", "hub", "tasks"],
    "push": ["push", "privacy", "cards", "hub"],
    "ctga": ["ctga", "folders", "hub", "tasks"],
}
RUNS["adapt"] = sorted({*RUNS["generate"], *RUNS["evaluate"], *RUNS["push"], "adapt", "training", "sft"})
# advice a command's code holds but cannot give on that command, and why
UNREACHABLE = {
    ("adapt", "generate/server"): "adapt runs the transformers and vLLM engines only, not a served model",
    ("adapt", "generate/cluster"): "adapt does not run on Ray",
    ("adapt", "generate/api"): "Bonito.generate_tasks, the Python API, is not what adapt calls",
    ("adapt", "generate/config"): "the Ray options of a GenerateConfig, which adapt never sets",
    ("adapt", "evaluation/run"): "adapt names the model and its own adapter: neither can be missing or another's",
    ("adapt", "push"): "adapt checks its --push repo id itself",
    ("adapt", "training/publish"): "adapt pushes its adapter with the evaluation it made, never with scores files",
    ("adapt", "generate/folder"): "adapt replaces its own generation folder (overwrite), never refuses another run",
}
ADVICE = re.compile(r"(?:pass|set|give|use|unset|name|skips?|reads?|replaces?|with|choose another|leave out)\s+"
                    r"(?:it\s+)?(?:with\s+)?`([A-Za-z_][A-Za-z0-9_]*)(?:(=)[^`]*)?`")


# "`skip_bad_files` skips such files", "`overwrite` replaces that run": the option, then what it does
ADVICE_AFTER = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)` (?:skips|reads|replaces|turns|leaves|sets)\b")


def _texts(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        yield "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    elif isinstance(node, ast.BinOp):
        yield from _texts(node.left)
        yield from _texts(node.right)


def advice() -> dict[str, set[tuple[str, bool]]]:
    """Module (path under bonito_hub, no suffix) -> the options its error messages advise, each
    with whether it is advised as KEY=VALUE (a recipe key)."""
    found: dict[str, set] = {}
    for path in PACKAGE.rglob("*.py"):
        module = path.relative_to(PACKAGE).with_suffix("").as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and \
                    getattr(node.func, "id", getattr(node.func, "attr", "")).endswith("Error"):
                for text in _texts(node.args[0]):
                    for name, setting in ADVICE.findall(text):
                        found.setdefault(module, set()).add((name, bool(setting)))
                    for name in ADVICE_AFTER.findall(text):
                        found.setdefault(module, set()).add((name, False))
    return found


def test_every_advised_option_is_a_flag_of_the_command_that_says_it():
    commands: dict = {}
    build_parser(commands)
    templates = advice()
    assert sum(len(v) for v in templates.values()) > 20  # the walk finds the library's advice
    wrong = []
    for name, modules in RUNS.items():
        command = commands[name]
        flags = command.flags()
        for module, options in sorted(templates.items()):
            if not any(module == m or module.startswith(m + "/") for m in modules):
                continue
            if any(module == m or module.startswith(m + "/") for (c, m) in UNREACHABLE if c == name):
                continue
            for option, as_setting in sorted(options):
                if option in flags or (as_setting and command.recipe_flag):
                    continue
                wrong.append(f"bonito {name}: {module} advises `{option}`, which is no flag of the command")
    assert not wrong, "\n".join(wrong)
