"""What `bonito adapt` takes: its own options (AdaptArgs) and the generation's, embedded whole
(bonito_hub.generate.GenerationOptions), so that adapt offers every option `bonito generate` does
(the OpenAI-compatible server and each engine's options included) without copying one."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from bonito_hub.errors import ConfigError
from bonito_hub.generate import DEFAULT_HOLDOUT, GenerationOptions, check_fraction
from bonito_hub.options import option

DEFAULT_RECIPE = "student/mistral-7b-qlora"
STEP_NAMES = ("generate", "overlap", "before", "train", "after", "push")
# recipe keys adapt sets itself: a --recipe-arg for one of them would train something else than
# what the run records, or write where the run does not look
SET_BY_ADAPT = {"model_name_or_path": "student", "dataset_name": "the generated folder",
                "output_dir": "the run's student/ folder", "objective": "student"}


@dataclass(kw_only=True)
class AdaptOutput:
    output: str = option(help="folder for the run; one subfolder a step; the same command resumes an interrupted run")


@dataclass(kw_only=True)
class AdaptArgs:
    """What `bonito adapt` takes besides the generation options."""

    corpus: str = option(help="your unannotated text (any input bonito generate reads)")
    generator: str = option(help="task generator (e.g. BatsResearch/bonito-v1)")
    student: str = option(help="the model to adapt: a local folder or a Hub id")
    target: str | None = option(None, help="also evaluate before and after on this labelled target (built-in name or "
                                "JSON Lines file), and count the n-grams the corpus shares with it")
    target_data: str | None = option(None, help="a built-in target's test split from a local file instead of the Hub")
    exclude_overlap: bool = option(False, help="leave out corpus passages sharing a 13-word n-gram with --target "
                                               "before generation")
    recipe: str = option(DEFAULT_RECIPE, help="student recipe: packaged name or YAML file (the paper's Q-LoRA by "
                                              "default)")
    recipe_overrides: dict = option(factory=dict, flag="--recipe-arg", repeat=True, metavar="KEY=VALUE",
                                    help="override a recipe key (repeatable), e.g. --recipe-arg max_steps=500")
    eval_limit: int | None = option(None, help="evaluate on the first N rows of each evaluation set only (a quick "
                                    "look)")
    push: str | None = option(None, metavar="ORG/NAME", help="push the adapter to ORG/NAME and the generated set to "
                              "ORG/NAME-tasks, with cards (private unless --public)")
    public: bool = option(False, help="with --push: create the repos public")
    dry_run: bool = option(False, help="with --push: write the folders and cards, send nothing")
    base_model: str | None = option(None, metavar="HUB_ID", help="with --push: the student's Hub id when --student "
                                    "is a folder")
    redo: str | None = option(None, choices=STEP_NAMES, metavar="STEP",
                              help="make this step (" + ", ".join(STEP_NAMES) + ") and every step after it again; a "
                                   "finished step whose options changed is otherwise refused")


def _overrides(value) -> dict:
    """{key: value} from a mapping, KEY=VALUE words, or the `--key value` list of 0.1 (`recipe_args`)."""
    from bonito_hub.options import key_values

    if isinstance(value, dict):
        return {str(k).lstrip("-").replace("-", "_"): v for k, v in value.items()}
    words = list(value or ())
    if words and all(isinstance(w, str) and w.startswith("--") for w in words[::2]) and "=" not in words[0]:
        if len(words) % 2:
            raise ConfigError(f"`recipe_overrides` takes --key value pairs, got {words!r}", field="recipe_overrides")
        return {k.lstrip("-").replace("-", "_"): v for k, v in zip(words[::2], words[1::2])}
    out: dict = {}
    for word in words:  # KEY=VALUE words, and mappings among them (a --config file's)
        pairs = word.items() if isinstance(word, dict) else key_values([word], "recipe_overrides")
        out.update({str(k).lstrip("-").replace("-", "_"): v for k, v in pairs})
    return out


@dataclass(kw_only=True, init=False)
class AdaptConfig(AdaptArgs):
    """AdaptArgs' fields and `generation`, every option of the generation but its model (the
    generator), input (the corpus) and output (the run's generated/ folder).

    Made from options by name (`AdaptConfig(corpus=..., generator=..., student=..., task_type="exqa",
    max_tokens=64, backend="openai", base_url=...)`: each generation option goes to its part), or with
    `generation=GenerationOptions(...)`; `recipe_args` (a `--key value` list, as in 0.1) is read into
    `recipe_overrides`. The held-out share is 10% unless given (0: none)."""

    generation: GenerationOptions = field(default_factory=GenerationOptions)

    def __init__(self, *, generation: GenerationOptions | None = None, recipe_args=None, **values):
        own = {f.name: f for f in fields(AdaptArgs)}
        for name, f in own.items():
            if name in values:
                setattr(self, name, values.pop(name))
            elif f.default_factory is not MISSING:
                setattr(self, name, f.default_factory())
            elif f.default is not MISSING:
                setattr(self, name, f.default)
            else:
                raise TypeError(f"AdaptConfig needs `{name}`")
        if recipe_args is not None:
            self.recipe_overrides = {**_overrides(recipe_args), **_overrides(self.recipe_overrides)}
        if generation is None:
            values.setdefault("holdout", DEFAULT_HOLDOUT)
        self.generation = (generation or GenerationOptions()).replace(**values)
        self.__post_init__()

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "generation":
            raise AttributeError(name)
        return self.generation.get(name)

    @property
    def recipe_args(self) -> list[str]:
        """The overrides as recipe arguments: `--key value`, in the order given."""
        return [word for key, value in self.recipe_overrides.items() for word in (f"--{key}", _word(value))]

    def __post_init__(self):
        from bonito_hub import hub, tasks
        from bonito_hub.push import check_repo_id

        t = self.generation.tasks
        t.holdout = t.holdout or None  # 0: every document trains
        check_fraction(t.holdout)
        if self.exclude_overlap and not self.target:
            raise ConfigError("`exclude_overlap` leaves out the passages a `target` shares; give the target",
                              field="exclude_overlap")
        if t.task_mix is not None:  # an unknown type, a mix not summing to 1: refused now, not after the checks
            t.task_mix = tasks.parse_mix(t.task_mix)
        else:
            tasks.parse_types(t.task_type or "")
        if self.push:
            check_repo_id(self.push, field="push")
            if self.base_model:
                check_repo_id(self.base_model, field="base_model", owner_optional=True)
            elif hub.is_local(self.student):
                raise ConfigError(f"`push`: the student {Path(self.student).name!r} is a local folder; name its Hub "
                                  "id with `base_model` so that others can load the adapter", field="base_model")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ConfigError(f"`eval_limit` must be at least 1 row, got {self.eval_limit}", field="eval_limit")
        if self.redo is not None and self.redo not in STEP_NAMES:
            raise ConfigError(f"`redo` must be one of {', '.join(STEP_NAMES)}, got {self.redo!r}", field="redo")
        self.recipe_overrides = _overrides(self.recipe_overrides)
        for key in self.recipe_overrides:  # every key, whatever its spelling was
            if key in SET_BY_ADAPT:
                raise ConfigError(f"`recipe_overrides` {key}: adapt sets it itself (to {SET_BY_ADAPT[key]}); leave "
                                  "it out", field="recipe_overrides")


def _word(value) -> str:
    """A recipe value as a command-line word (YAML's spelling for booleans and null)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)
