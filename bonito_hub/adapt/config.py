"""What `bonito adapt` takes: its own options (AdaptArgs) and the generation's, embedded whole
(bonito_hub.generate.GenerationOptions), so that adapt offers every option `bonito generate` does
(the OpenAI-compatible server and each engine's options included) without copying one."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from bonito_hub.cards import LicenseOptions
from bonito_hub.errors import ConfigError
from bonito_hub.generate import DEFAULT_HOLDOUT, EstimateOptions, GenerationOptions, check_fraction
from bonito_hub.options import default_of, option, own_values

DEFAULT_RECIPE = "student/mistral-7b-qlora"
STEP_NAMES = ("generate", "overlap", "before", "train", "after", "push")
# recipe keys adapt sets itself: a --recipe-arg for one of them would train something else than
# what the run records, or write where the run does not look
SET_BY_ADAPT = {"model_name_or_path": "student", "dataset_name": "the generated folder",
                "output_dir": "the run's student/ folder", "objective": "student"}


def _builtin_targets() -> list[str]:
    from bonito_hub.targets import builtin_targets

    return list(builtin_targets())


@dataclass(kw_only=True)
class AdaptOutput:
    output: str = option(help="folder for the run; one subfolder a step; the same command resumes an interrupted run")


@dataclass(kw_only=True)
class _AdaptArgs:
    """What `bonito adapt` takes besides the generation options."""

    corpus: str | None = option(None, help="your unannotated text (any input bonito generate reads); required "
                                "unless --paper")
    generator: str | None = option(None, help="task generator (e.g. BatsResearch/bonito-v1); required unless "
                                   "--paper")
    student: str | None = option(None, help="the model to adapt: a local folder or a Hub id; required unless --paper")
    paper: str | None = option(None, metavar="TARGET", choices=_builtin_targets, help="one row of the paper: its "
                               "corpus for TARGET (BatsResearch/bonito-experiment, the unannotated config), bonito-v1, "
                               "Mistral-7B-v0.1, the paper preset, its Q-LoRA recipe and step rule (10,000 steps, or "
                               "one epoch under 160,000 examples), scored on TARGET with the paper's protocol; any "
                               "of these given explicitly wins")
    plan: bool = option(False, help="print each step and its settings, then stop: no model is loaded, nothing is "
                                    "read or written (also --dry-run without --push)")
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
    dry_run: bool = option(False, help="with --push: write the folders and cards, send nothing; without --push: "
                                       "--plan, then what the generation step will make, as bonito generate "
                                       "--dry-run says it (the corpus read and cut with the generator's tokenizer "
                                       "only; no weights load, nothing is written)")
    base_model: str | None = option(None, metavar="HUB_ID", help="with --push: the student's Hub id when --student "
                                    "is a folder")
    redo: str | None = option(None, choices=STEP_NAMES, metavar="STEP",
                              help="make this step (" + ", ".join(STEP_NAMES) + ") and every step after it again; a "
                                   "finished step whose options changed is otherwise refused")


@dataclass(kw_only=True)
class AdaptArgs(LicenseOptions, EstimateOptions, _AdaptArgs):
    """What `bonito adapt` takes besides the generation options, then what the generation step's
    estimate and budget take, and the licence of the generated set `push` publishes."""


def paper_experiment() -> dict:
    """The paper's experiment settings (bonito_hub/data/paper_experiment.yaml)."""
    import yaml

    from bonito_hub import resources

    return yaml.safe_load(resources.read_text("paper_experiment.yaml"))


def paper_row(target: str) -> dict:
    """The options of the paper's row for `target` (a built-in target), by name."""
    from bonito_hub.targets import builtin_targets

    spec, experiment = builtin_targets()[target], paper_experiment()
    config = experiment["corpus_config"].format(config=spec["config"])
    return {"corpus": f"{experiment['corpus']}:{config}", "generator": experiment["generator"],
            "student": experiment["student"], "target": target, "recipe": experiment["recipe"],
            "task_type": spec["task_type"], "preset": experiment["preset"], "holdout": experiment["holdout"]}


def _overrides(value) -> dict:
    """{key: value} from a mapping, KEY=VALUE words, or the `--key value` list of 0.1 (`recipe_args`)."""
    from bonito_hub.options import key_value_map

    if isinstance(value, dict):
        return {str(k).lstrip("-").replace("-", "_"): v for k, v in value.items()}
    words = list(value or ())
    if words and all(isinstance(w, str) and w.startswith("--") for w in words[::2]) and "=" not in words[0]:
        if len(words) % 2:
            raise ConfigError(f"`recipe_overrides` takes --key value pairs, got {words!r}", field="recipe_overrides")
        return {k.lstrip("-").replace("-", "_"): v for k, v in zip(words[::2], words[1::2])}
    return key_value_map(words, "recipe_overrides", strip="-")


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
        if values.get("paper"):
            _with_paper_row(values, generation)
        for name, value in own_values(AdaptArgs, values, "AdaptConfig").items():
            setattr(self, name, value)
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
        from bonito_hub.cards import license_fields
        from bonito_hub.push import check_repo_id

        for name in ("corpus", "generator", "student"):
            if not getattr(self, name):
                raise ConfigError(f"`{name}` is required (or `paper` TARGET, which names it)", field=name)
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
            license_fields(self.license, self.license_name, self.license_link, public=self.public)
            if self.base_model:
                check_repo_id(self.base_model, field="base_model", owner_optional=True)
            elif hub.is_local(self.student):
                raise ConfigError(f"`push`: the student {Path(self.student).name!r} is a local folder; name its Hub "
                                  "id with `base_model` so that others can load the adapter", field="base_model")
        self.check_estimate_options()
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ConfigError(f"`eval_limit` must be at least 1 row, got {self.eval_limit}", field="eval_limit")
        if self.redo is not None and self.redo not in STEP_NAMES:
            raise ConfigError(f"`redo` must be one of {', '.join(STEP_NAMES)}, got {self.redo!r}", field="redo")
        self.recipe_overrides = _overrides(self.recipe_overrides)
        for key in self.recipe_overrides:  # every key, whatever its spelling was
            if key in SET_BY_ADAPT:
                raise ConfigError(f"`recipe_overrides` {key}: adapt sets it itself (to {SET_BY_ADAPT[key]}); leave "
                                  "it out", field="recipe_overrides")


def _with_paper_row(values: dict, generation: GenerationOptions | None) -> None:
    """Add to `values` the settings of the paper's row `values["paper"]`, under what was given: an
    option given by name, or in `generation`, at a value other than its default (adapt's held-out
    share counting as the default) keeps it."""
    names = GenerationOptions.names()
    defaults = {f.name: default_of(f) for cls in (AdaptArgs, *GenerationOptions.parts()) for f in fields(cls)}
    defaults["holdout"] = DEFAULT_HOLDOUT
    for name, value in paper_row(values["paper"]).items():
        given = values[name] if name in values else \
            generation.get(name) if generation is not None and name in names else defaults.get(name)
        if given in (defaults.get(name), None):
            values[name] = value


def _word(value) -> str:
    """A recipe value as a command-line word (YAML's spelling for booleans and null)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)
