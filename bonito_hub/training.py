"""Training data and checks for recipes/sft.py: the generator on CTGA, the student on generated
tasks, and the next-word-prediction baseline on raw passages.

What each objective trains on:
  generator  a CTGA folder or Hub id (+ config name): `input` -> `output`, tokenised as Bonito's
             released code does: BOS + tokens(input), then tokens(output) + EOS, loss on the
             output tokens only;
  student    a `bonito generate` folder: `input` -> `output` through the model's chat template
             when it has one, else the plain format PLAIN_PROMPT (below), or the paper's format
             BONITO_PROMPT (`student_format: bonito`); loss on the response only;
  dapt       the raw corpus (any input `bonito generate` reads): next-word prediction on `text`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bonito_hub.versions import package_versions

OBJECTIVES = ("auto", "generator", "student", "dapt")
# The plain student format, for base models without a chat template: the instruction, a blank
# line, then the response (and EOS).
PLAIN_PROMPT = "{input}\n\n"
# The paper's student format for base models (Bonito's training code): BOS, this, the response, EOS.
BONITO_PROMPT = "<|input|>\n{input}\n<|output|>\n"
STUDENT_PROMPTS = {"plain": PLAIN_PROMPT, "bonito": BONITO_PROMPT}
RECORD_NAME = "training_record.json"


class RecipeError(ValueError):
    """A recipe that cannot start; raised before any training step."""


@dataclass
class RecipeArguments:
    """Script arguments of recipes/sft.py (model and trainer arguments are TRL's ModelConfig and SFTConfig)."""

    dataset_name: str | None = field(default=None, metadata={"help": "local folder or Hub id of the training data"})
    dataset_config: str | None = field(default=None, metadata={"help": "config name, e.g. a CTGA task type (exqa)"})
    dataset_train_split: str = field(default="train")
    dataset_test_split: str = field(default="validation", metadata={"help": "used when eval_strategy is not 'no'"})
    objective: str = field(default="auto", metadata={"help": "generator, student, dapt, or auto (from the columns)"})
    text_column: str = field(default="text", metadata={"help": "dapt: the column holding the raw text"})
    student_format: str = field(default="auto", metadata={
        "help": "student: chat, plain, bonito (the paper's <|input|>/<|output|> format), or auto (chat if the "
                "tokenizer has a chat template, else plain)"})
    global_batch_size: int | None = field(default=None, metadata={
        "help": "examples per optimiser step over all processes; gradient_accumulation_steps is derived from it "
                "at launch (global / (per_device_train_batch_size x processes))"})
    max_passage_chars: int | None = field(default=None, metadata={"help": "dapt: cut longer texts into pieces of this many characters"})
    merge: bool = field(default=False, metadata={"help": "also write the adapter merged into the base model to OUTPUT/merged"})
    recipe: str | None = field(default=None, metadata={"help": "set by sft.py: the recipe file, for the record"})

    def __post_init__(self):
        # `--dataset_config null` on the command line clears a recipe's config name
        if isinstance(self.dataset_config, str) and self.dataset_config.lower() in ("", "null", "none"):
            self.dataset_config = None


def apply_global_batch(args: RecipeArguments, training_args) -> int:
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


def detect_objective(columns: list[str], args: RecipeArguments) -> str:
    if args.objective != "auto":
        if args.objective not in OBJECTIVES:
            raise RecipeError(f"objective {args.objective!r} is not one of {', '.join(OBJECTIVES[1:])}")
        return args.objective
    if {"input", "output", "task_type", "template"} <= set(columns):
        return "generator"
    if {"input", "output"} <= set(columns):
        return "student"
    if args.text_column in columns:
        return "dapt"
    raise RecipeError(f"cannot tell what to train from columns {', '.join(columns)}; set objective")


def load_training_data(args: RecipeArguments):
    """The train (and, when present, test) split, with a clear error for each way it can be wrong."""
    import datasets

    if not args.dataset_name:
        raise RecipeError("no dataset_name: give a CTGA folder, a `bonito generate` folder, a corpus, or a Hub id")
    path = Path(args.dataset_name)
    if args.objective == "dapt" or (path.is_file()):
        from bonito_hub.generate.inputs import load_texts

        return {"train": load_texts(args.dataset_name, split=args.dataset_train_split)}
    if args.dataset_config is not None:
        try:
            names = datasets.get_dataset_config_names(args.dataset_name)
        except Exception as exc:
            raise RecipeError(f"could not read {args.dataset_name}: {type(exc).__name__}: {exc}") from None
        if args.dataset_config not in names:
            raise RecipeError(f"{args.dataset_name} has no config {args.dataset_config!r}; configs: {', '.join(names)}")
    try:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config)
    except Exception as exc:
        raise RecipeError(f"could not load {args.dataset_name}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if args.dataset_train_split not in loaded:
        raise RecipeError(f"{args.dataset_name} has no split {args.dataset_train_split!r}; splits: {', '.join(loaded)}")
    return dict(loaded)


def tokenize_pair(tokenizer, prompt: str, completion: str) -> dict:
    """BOS + tokens(prompt), then tokens(completion) + EOS; labels -100 on the prompt part."""
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    if tokenizer.bos_token_id is not None and (not prompt_ids or prompt_ids[0] != tokenizer.bos_token_id):
        prompt_ids = [tokenizer.bos_token_id] + prompt_ids
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return {"input_ids": prompt_ids + completion_ids, "labels": [-100] * len(prompt_ids) + completion_ids}


def prepare_dataset(dataset, objective: str, tokenizer, args: RecipeArguments, max_length: int | None = None):
    """The split in a form SFTTrainer consumes as is."""
    columns = dataset.column_names
    if objective in ("generator", "student"):
        missing = {"input", "output"} - set(columns)
        if missing:
            raise RecipeError(f"{objective} data needs columns input and output; {args.dataset_name} has {', '.join(columns)}")
    if objective == "dapt":
        if args.text_column not in columns:
            raise RecipeError(f"dapt data needs the text column {args.text_column!r}; columns: {', '.join(columns)}")
        ds = dataset.filter(lambda t: isinstance(t, str) and bool(t.strip()), input_columns=args.text_column)
        ds = ds.map(lambda t: {"text": t.strip()}, input_columns=args.text_column, remove_columns=columns)
        if args.max_passage_chars:
            n = args.max_passage_chars
            ds = ds.map(lambda b: {"text": [t[i:i + n] for t in b["text"] for i in range(0, len(t), n)]}, batched=True)
        return ds
    fmt = args.student_format
    if objective == "student" and fmt == "auto":
        fmt = "chat" if getattr(tokenizer, "chat_template", None) else "plain"
    if objective == "student" and fmt == "chat":
        return dataset.map(
            lambda i, o: {"prompt": [{"role": "user", "content": i}], "completion": [{"role": "assistant", "content": o}]},
            input_columns=["input", "output"], remove_columns=columns,
        )
    if objective == "student" and fmt not in STUDENT_PROMPTS:
        raise RecipeError(f"student_format {fmt!r} is not one of auto, chat, {', '.join(STUDENT_PROMPTS)}")
    template = STUDENT_PROMPTS[fmt] if objective == "student" else "{input}"

    def encode(i, o):
        pair = tokenize_pair(tokenizer, template.format(input=i), o)
        if max_length:
            pair = {k: v[:max_length] for k, v in pair.items()}
        return pair

    return dataset.map(encode, input_columns=["input", "output"], remove_columns=columns)


def check_model(model_args, training_args) -> None:
    """A missing model or 4-bit without a GPU: said before anything loads."""
    import torch
    from transformers import AutoConfig

    name = model_args.model_name_or_path
    if not name:
        raise RecipeError("no model_name_or_path")
    try:
        AutoConfig.from_pretrained(name, revision=model_args.model_revision)
    except Exception as exc:
        raise RecipeError(f"could not load model {name!r} (looked for a local folder, then the Hub): "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if model_args.load_in_4bit or model_args.load_in_8bit:
        if not torch.cuda.is_available() or getattr(training_args, "use_cpu", False):
            raise RecipeError("4-bit/8-bit loading (Q-LoRA) needs bitsandbytes and a CUDA GPU; "
                              "on a CPU use plain LoRA (load_in_4bit: false)")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise RecipeError("4-bit/8-bit loading needs bitsandbytes: pip install bitsandbytes") from None


def write_record(output_dir: str, recipe: RecipeArguments, training_args, model_args, objective: str,
                 train_dataset, metrics: dict, started: float) -> Path:
    def plain(obj):
        d = obj.to_dict() if hasattr(obj, "to_dict") else asdict(obj)
        return json.loads(json.dumps(d, default=str))

    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - started, 1),
        "objective": objective,
        "recipe": recipe.recipe,
        "script_args": plain(recipe),
        "training_args": plain(training_args),
        "model_args": plain(model_args),
        "effective_batch_size": effective_batch_size(training_args),
        "processes": training_args.world_size,
        "data": {"name": recipe.dataset_name, "config": recipe.dataset_config, "rows": len(train_dataset),
                 "fingerprint": getattr(train_dataset, "_fingerprint", None)},
        "versions": package_versions("bonito-hub", "torch", "transformers", "trl", "peft", "accelerate", "datasets"),
        "metrics": metrics,
    }
    path = Path(output_dir) / RECORD_NAME
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path

