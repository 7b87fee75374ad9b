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

from dataclasses import dataclass, field
from pathlib import Path

from trl import ScriptArguments

from bonito_hub import hub
from bonito_hub.console import get_logger
from bonito_hub.errors import ModelLoadError, RecipeError, cause
from bonito_hub.format import PLAIN_PROMPT, STUDENT_PROMPTS  # noqa: F401 (PLAIN_PROMPT: part of this module's API)
from bonito_hub.models import check_model_available
from bonito_hub.records import make_record, write_record

OBJECTIVES = ("auto", "generator", "student", "dapt")
RECORD_NAME = "training_record.json"
PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")
log = get_logger(__name__)


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
    student_format: str = field(default="auto", metadata={
        "help": "student: chat, plain, bonito (the paper's <|input|>/<|output|> format), or auto (chat if the "
                "tokenizer has a chat template, else plain)"})
    global_batch_size: int | None = field(default=None, metadata={
        "help": "examples per optimiser step over all processes; gradient_accumulation_steps is derived from it "
                "at launch (global / (per_device_train_batch_size x processes))"})
    max_passage_chars: int | None = field(default=None, metadata={"help": "dapt: cut longer texts into pieces of this many characters"})
    push_base_model: str | None = field(default=None, metadata={
        "help": "with push_to_hub: the base model's Hub id for the adapter's card, when model_name_or_path is a "
                "local folder"})
    merge: bool = field(default=False, metadata={"help": "also write the adapter merged into the base model to OUTPUT/merged"})
    recipe: str | None = field(default=None, metadata={"help": "set by sft.py: the recipe file, for the record"})

    def __post_init__(self):
        # `--dataset_config null` on the command line clears a recipe's config name
        if isinstance(self.dataset_config, str) and self.dataset_config.lower() in ("", "null", "none"):
            self.dataset_config = None


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


def detect_objective(columns: list[str], args: RecipeConfig) -> str:
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


def load_training_data(args: RecipeConfig):
    """The train (and, when present, test) split, with a clear error for each way it can be wrong."""
    import datasets

    if not args.dataset_name:
        raise RecipeError("no dataset_name: give a CTGA folder, a `bonito generate` folder, a corpus, or a Hub id")
    if not hub.is_local(args.dataset_name):
        try:
            hub.check_reachable(f"dataset_name {args.dataset_name}")
        except hub.HubUnreachable as exc:
            raise RecipeError(str(exc)) from None
    path = Path(args.dataset_name)
    if args.objective == "dapt" or (path.is_file()):
        from bonito_hub.corpus import load_texts

        return {"train": load_texts(args.dataset_name, split=args.dataset_train_split)}
    if args.dataset_config is not None:
        try:
            names = datasets.get_dataset_config_names(args.dataset_name)
        except Exception as exc:
            raise RecipeError(f"could not read {args.dataset_name}: {cause(exc)}") from None
        if args.dataset_config not in names:
            raise RecipeError(f"{args.dataset_name} has no config {args.dataset_config!r}; configs: {', '.join(names)}")
    try:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config)
    except Exception as exc:
        raise RecipeError(f"could not load {args.dataset_name}: {cause(exc)}") from None
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


def student_format(args: RecipeConfig, tokenizer) -> str:
    """The student format a recipe resolves to: `auto` is chat when the tokenizer has a chat
    template, else plain. Evaluation presents its prompts the same way."""
    if args.student_format == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "plain"
    return args.student_format


def prepare_dataset(dataset, objective: str, tokenizer, args: RecipeConfig, max_length: int | None = None):
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
    fmt = student_format(args, tokenizer)
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
        check_model_available(name, "model_name_or_path")
    except (ModelLoadError, hub.HubUnreachable) as exc:
        raise RecipeError(str(exc)) from None
    try:
        AutoConfig.from_pretrained(name, revision=model_args.model_revision)
    except Exception as exc:
        raise RecipeError(f"could not load model {name!r} (looked for a local folder, then the Hub): {cause(exc)}") from None
    if model_args.load_in_4bit or model_args.load_in_8bit:
        if not torch.cuda.is_available() or getattr(training_args, "use_cpu", False):
            raise RecipeError("4-bit/8-bit loading (Q-LoRA) needs bitsandbytes and a CUDA GPU; "
                              "on a CPU use plain LoRA (load_in_4bit: false)")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise RecipeError("4-bit/8-bit loading needs bitsandbytes: pip install bitsandbytes") from None


def parse_recipe(parser, argv: list[str]):
    """(script_args, training_args, model_args) from a recipe and the command line, with each way
    it can be wrong as a RecipeError: an unknown key (with the closest known one), or a value the
    trainer refuses (bf16 where this machine has no bf16, ...)."""
    import difflib

    try:
        *parsed, remaining = parser.parse_args_and_config(argv, return_remaining_strings=True)
    except FileNotFoundError as exc:
        raise RecipeError(f"recipe {exc.filename}: no such file") from None
    except ValueError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "bf16" in message:
            message = "bf16: true needs a GPU with bfloat16 support, which this machine lacks; pass --bf16 false"
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


def plan_push(script_args: RecipeConfig, training_args, model_args) -> dict | None:
    """With push_to_hub, bonito-hub pushes the adapter itself after training, with its own card
    (TRL's and PEFT's cards say library_name transformers and drop a base model loaded from a
    folder), so the Trainer is told not to push. Everything the push needs is checked here, before
    training: the repo id, a Hub id for the base model, an adapter to push."""
    from bonito_hub.errors import BonitoError
    from bonito_hub.push import check_repo_id

    if not training_args.push_to_hub:
        return None
    repo_id = training_args.hub_model_id
    if not repo_id:
        raise RecipeError("push_to_hub needs hub_model_id: the ORG/NAME to push the adapter to")
    if not model_args.use_peft:
        raise RecipeError("push_to_hub pushes an adapter (bonito push adapter); this recipe trains without use_peft")
    base = script_args.push_base_model or model_args.model_name_or_path
    if hub.is_local(base):
        raise RecipeError(f"push_to_hub: the base model {base!r} is a local folder; set push_base_model to its Hub id")
    try:
        check_repo_id(repo_id)
        hub.check_reachable(f"push_to_hub to {repo_id}")
    except BonitoError as exc:
        raise RecipeError(str(exc)) from None
    training_args.push_to_hub = False
    return {"repo_id": repo_id, "base_model": base, "public": training_args.hub_private_repo is False}


def configure_trainer(training_args, model_args, objective: str, train_dataset) -> None:
    """Settle what SFTTrainer must be told about this data and model before it is built:
    the text field of dapt data, padding-free batching (which needs pre-tokenised rows here: with
    them, max_length was applied when tokenising, and TRL wants it unset), and the keyword
    arguments the model is loaded with (revision, dtype, attention, 4-/8-bit quantisation)."""
    from trl import get_quantization_config

    if objective == "dapt":
        training_args.dataset_text_field = "text"
    if training_args.padding_free and not training_args.packing:
        if "input_ids" in train_dataset.column_names:
            training_args.max_length = None
        else:
            log.warning("padding-free batches need pre-tokenised data here; using padded batches (%s)", objective)
            training_args.padding_free = False
    training_args.model_init_kwargs = {"revision": model_args.model_revision, "dtype": model_args.dtype,
                                       "attn_implementation": model_args.attn_implementation,
                                       **(training_args.model_init_kwargs or {})}
    quantization = get_quantization_config(model_args)
    if quantization is not None:
        training_args.model_init_kwargs["quantization_config"] = quantization


@dataclass
class TrainingData:
    objective: str
    train: object
    evaluation: object | None
    student_format: str | None = None  # how the student saw its instructions (chat, plain, bonito)


def load_tokenizer(model_args):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def prepare_data(script_args: RecipeConfig, training_args, tokenizer) -> TrainingData:
    """The train split (and the test split when evaluating) ready for SFTTrainer, and the objective."""
    splits = load_training_data(script_args)
    objective = detect_objective(splits["train"].column_names, script_args)
    train = prepare_dataset(splits["train"], objective, tokenizer, script_args, training_args.max_length)
    evaluation = None
    if training_args.eval_strategy != "no" and script_args.dataset_test_split in splits:
        evaluation = prepare_dataset(splits[script_args.dataset_test_split], objective, tokenizer, script_args,
                                     training_args.max_length)
    log.info("%s objective: %d training examples from %s", objective, len(train), script_args.dataset_name)
    fmt = student_format(script_args, tokenizer) if objective == "student" else None
    return TrainingData(objective, train, evaluation, fmt)


def save(trainer, tokenizer, script_args: RecipeConfig, training_args, model_args, data: TrainingData,
         result, started: float, push: dict | None = None) -> None:
    """The adapter or model, its tokenizer, the loss history, the record, (with `merge`) the
    adapter merged into its base model in OUTPUT/merged, and (with `push`, from `plan_push`) the
    adapter pushed with its card."""
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the loss history, beside the adapter
    if not trainer.accelerator.is_main_process:
        return
    tokenizer.save_pretrained(training_args.output_dir)
    metrics = dict(result.metrics)
    if data.evaluation is not None:
        metrics.update(trainer.evaluate())
    write_training_record(training_args.output_dir, script_args, training_args, model_args, data.objective,
                          data.train, metrics, started, data.student_format)
    if script_args.merge and model_args.use_peft:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(f"{training_args.output_dir}/merged")
        tokenizer.save_pretrained(f"{training_args.output_dir}/merged")
    log.info("saved to %s (%s, %d examples)", training_args.output_dir, data.objective, len(data.train))
    if push is not None:
        from bonito_hub.push import push as push_folder

        upload = push_folder("adapter", training_args.output_dir, push["repo_id"], public=push["public"],
                             base_model=push["base_model"])
        log.info("pushed %d files to %s (%s)", len(upload.files), upload.url, "public" if push["public"] else "private")


def write_training_record(output_dir: str, recipe: RecipeConfig, training_args, model_args, objective: str,
                          train_dataset, metrics: dict, started: float, student_format: str | None = None) -> Path:
    record = make_record(
        {"script_args": recipe, "training_args": training_args, "model_args": model_args},
        packages=PACKAGES, started=started,
        objective=objective, recipe=recipe.recipe, student_format=student_format,
        effective_batch_size=effective_batch_size(training_args), processes=training_args.world_size,
        data={"name": recipe.dataset_name, "config": recipe.dataset_config, "rows": len(train_dataset),
              "fingerprint": getattr(train_dataset, "_fingerprint", None)},
        metrics=metrics,
    )
    return write_record(Path(output_dir) / RECORD_NAME, record)
