"""A recipe's configuration: `RecipeConfig` (TRL's ScriptArguments and what Bonito's objectives
add), parsing a YAML recipe with the command line on top, packaged recipes by name, and the batch
arithmetic that keeps the paper's batch on any number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trl import ScriptArguments

from bonito_hub.console import deprecated
from bonito_hub.errors import RecipeError
from bonito_hub.format import EVALUATION_ONLY, PROMPT_STYLES

OBJECTIVES = ("auto", "generator", "student", "dapt")


@dataclass
class RecipeConfig(ScriptArguments):
    """Script arguments of recipes/sft.py: TRL's `ScriptArguments` (dataset_name, dataset_config,
    dataset_train_split, dataset_test_split, ...) and what Bonito's objectives add. Model and
    trainer arguments are TRL's `ModelConfig` and `SFTConfig`.
    """

    dataset_test_split: str = field(default="validation", metadata={
        "help": "split evaluated on when eval_strategy is not 'no' (CTGA and generated folders call it validation)"})
    objective: str = field(default="auto", metadata={"help": "generator, student, dapt, or auto (from the columns)"})
    text_column: str = field(default="text", metadata={"help": "dapt: the column holding the raw text"})
    prompt_style: str = field(default="auto", metadata={
        "help": "student: how it sees its instructions: chat, plain, bonito (the paper's <|input|>/<|output|> "
                "markers), or auto (chat if the tokenizer has a chat template, else plain)"})
    global_batch_size: int | None = field(default=None, metadata={
        "help": "examples per optimiser step over all processes; gradient_accumulation_steps is derived from it "
                "at launch (global / (per_device_train_batch_size x processes))"})
    max_passage_chars: int | None = field(default=None, metadata={"help": "dapt: cut longer texts into pieces of this many characters"})
    max_source_length: int | None = field(default=1024, metadata={
        "help": "generator, student: the most tokens of an example's prompt (the passage side), cut at its end as the "
                "paper's training does (source_max_len, 1,024); None: no cut of its own"})
    max_target_length: int | None = field(default=1024, metadata={
        "help": "generator, student: the most tokens of an example's response, cut at its end as the paper's "
                "training does (target_max_len, 1,024); the response is never cut to nothing: where the two exceed "
                "max_length, the prompt gives way first"})
    push_base_model: str | None = field(default=None, metadata={
        "help": "with push_to_hub: the base model's Hub id for the adapter's card, when model_name_or_path is a "
                "local folder"})
    merge: bool = field(default=False, metadata={"help": "also write the adapter merged into the base model to OUTPUT/merged"})
    recipe: str | None = field(default=None, metadata={"help": "set by sft.py: the recipe file, for the record"})
    student_format: str | None = field(default=None, metadata={"help": "deprecated: the name of prompt_style in 0.1"})

    def __post_init__(self):
        # `--dataset_config null` on the command line clears a recipe's config name
        if isinstance(self.dataset_config, str) and self.dataset_config.lower() in ("", "null", "none"):
            self.dataset_config = None
        name = "prompt_style"
        if self.student_format is not None:
            deprecated("the recipe key student_format is now called prompt_style; the old name goes in 0.2")
            name, self.prompt_style, self.student_format = "student_format", self.student_format, None
        trained = [style for style in PROMPT_STYLES if style not in EVALUATION_ONLY]
        if self.prompt_style not in ("auto", *trained):
            raise RecipeError(f"{name} {self.prompt_style!r} is not one of auto, {', '.join(trained)}"
                              + (" (inst is how the paper's evaluation prompts an instruction-tuned model; train "
                                 "it with chat)" if self.prompt_style in EVALUATION_ONLY else ""), field=name)
        for name in ("max_source_length", "max_target_length"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise RecipeError(f"{name} must be at least 1 token (or null: no cut), got {value}", field=name)
        if self.objective not in OBJECTIVES:
            raise RecipeError(f"objective {self.objective!r} is not one of {', '.join(OBJECTIVES)}", field="objective")


def apply_global_batch(args: RecipeConfig, training_args) -> int:
    """Set gradient accumulation so that one optimiser step sees `global_batch_size` examples on
    however many processes were launched; returns the effective batch. An impossible split is an
    error before any model loads."""
    per_device, processes = training_args.per_device_train_batch_size, training_args.world_size
    if args.global_batch_size is not None:
        per_step = per_device * processes
        if args.global_batch_size < per_step or args.global_batch_size % per_step:
            raise RecipeError(
                f"global_batch_size {args.global_batch_size} cannot be split over {processes} process(es) x "
                f"per_device_train_batch_size {per_device}: it must be a multiple of {per_step}; change "
                f"per_device_train_batch_size or the number of processes")
        training_args.gradient_accumulation_steps = args.global_batch_size // per_step
    return effective_batch_size(training_args)


def effective_batch_size(training_args) -> int:
    """Examples per optimiser step over all processes."""
    return training_args.per_device_train_batch_size * training_args.world_size * \
        training_args.gradient_accumulation_steps


def _config_path(argv: list[str]) -> str | None:
    return argv[argv.index("--config") + 1] if "--config" in argv[:-1] else None


def recipe_objective(path: str) -> str | None:
    """The objective a recipe file names (None when it names none, or is not readable YAML: the
    parse says why)."""
    import yaml

    try:
        return (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("objective")
    except (OSError, yaml.YAMLError, AttributeError):
        return None


def packaged_recipes(kind: str = "recipes") -> dict[str, str]:
    """The recipes (or, with kind "accelerate", the accelerate configs) that ship in the package:
    name (student/mistral-7b-qlora, accelerate/cpu) -> path."""
    from bonito_hub import resources

    root = resources.data_dir("recipes")
    found = {}
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if folder.is_dir() and (folder.name == "accelerate") == (kind == "accelerate"):
            for file in sorted(folder.iterdir(), key=lambda p: p.name):
                if file.name.endswith(".yaml"):
                    found[f"{folder.name}/{file.name[:-5]}"] = str(file)
    return found


def recipe_path(recipe: str, kind: str = "recipes") -> str:
    """A packaged recipe by name (student/mistral-7b-qlora, smoke/student; with kind "accelerate"
    an accelerate config: cpu, multi_gpu, ...) or a YAML file's path."""
    if Path(recipe).is_file():
        return str(recipe)
    name = recipe[:-5] if recipe.endswith(".yaml") else recipe
    table = packaged_recipes(kind)
    if kind == "accelerate" and not name.startswith("accelerate/"):
        name = f"accelerate/{name}"
    if name not in table:
        what = "accelerate config" if kind == "accelerate" else "recipe"
        names = ", ".join(n.removeprefix("accelerate/") for n in table)
        raise RecipeError(f"{what} {recipe}: no such file, and not a packaged {what} ({names})",
                          field="accelerate_config" if kind == "accelerate" else "recipe")
    return table[name]


def recipe_name(path: str) -> str:
    """How a record names a recipe: a packaged one by its name, a file of the user's by its file
    name (never the path: records travel to the Hub)."""
    for name, packaged in packaged_recipes().items():
        if Path(packaged).resolve() == Path(path).resolve():
            return name
    return Path(path).name


def parse_recipe(parser, argv: list[str]):
    """(script_args, training_args, model_args) from a recipe and the command line, with each way
    it can be wrong as a RecipeError: an unknown key (with the closest known one), or a value the
    trainer refuses (bf16 where this machine has no bf16, ...)."""
    import difflib

    import yaml

    try:
        *parsed, remaining = parser.parse_args_and_config(argv, return_remaining_strings=True)
    except FileNotFoundError as exc:
        raise RecipeError(f"recipe {exc.filename}: no such file") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"recipe {_config_path(argv)}: not valid YAML ({problem}{at})") from None
    except ValueError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "bf16" in message:
            message = "bf16 true needs a GPU with bfloat16 support, which this machine lacks; set `bf16=false`"
        raise RecipeError(message) from None
    known = sorted({a.dest for a in parser._actions})
    for item in remaining:
        if item.startswith("--"):
            key = item[2:].split("=", 1)[0]
            # keys of the same family first (lora_rank -> lora_r, not local_rank), then any key
            family = [k for k in known if k.split("_")[0] == key.split("_")[0]]
            close = difflib.get_close_matches(key, family, n=1) or difflib.get_close_matches(key, known, n=1)
            raise RecipeError(f"unknown recipe key {key!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
    return tuple(parsed)
