"""Training data per objective: what each trains on, and in the form SFTTrainer consumes.

  generator  a CTGA folder or Hub id (+ config name): `input` -> `output`, tokenised as Bonito's
             released code does: BOS + tokens(input), then tokens(output) + EOS, loss on the
             output tokens only;
  student    a `bonito generate` folder: `input` -> `output` in the student's prompt style: the
             model's chat template (`chat`), PLAIN_PROMPT (`plain`) or the paper's BONITO_PROMPT
             (`bonito`); loss on the response only.
Both are cut as the paper's training cuts them: the prompt to max_source_length tokens and the
response to max_target_length (1,024 each), apart, never the response to nothing (`fit`);
  dapt       the raw corpus (any input `bonito generate` reads): next-word prediction on `text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bonito_hub import hub
from bonito_hub.console import get_logger
from bonito_hub.errors import RecipeError, cause
from bonito_hub.format import encode_prompt, encode_response
from bonito_hub.training.config import RecipeConfig

log = get_logger(__name__)


def detect_objective(columns: list[str], args: RecipeConfig) -> str:
    if args.objective != "auto":
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


# what a cut did to an example (bits of the `cut` column prepare_dataset counts, then removes)
CUT_SOURCE, CUT_TARGET = 1, 2


def fit(prompt_ids: list[int], completion_ids: list[int], max_source: int | None = None,
        max_target: int | None = None, max_length: int | None = None) -> tuple[list[int], list[int], int]:
    """The prompt cut to `max_source` tokens and the response to `max_target`, each at its end, as
    the paper's training cuts source and target apart (train_decoder.py: source_max_len and
    target_max_len, 1,024 each); where the two still exceed `max_length`, the prompt gives way first
    (down to half the window), so a long prompt never leaves its response with nothing. Returns
    both and what was cut (CUT_SOURCE | CUT_TARGET)."""
    cut = 0
    if max_source is not None and len(prompt_ids) > max_source:
        prompt_ids, cut = prompt_ids[:max_source], cut | CUT_SOURCE
    if max_target is not None and len(completion_ids) > max_target:
        completion_ids, cut = completion_ids[:max_target], cut | CUT_TARGET
    if max_length and len(prompt_ids) + len(completion_ids) > max_length:
        room = max(max_length - len(completion_ids), max_length // 2)
        if len(prompt_ids) > room:
            prompt_ids, cut = prompt_ids[:room], cut | CUT_SOURCE
        if len(prompt_ids) + len(completion_ids) > max_length:
            completion_ids, cut = completion_ids[:max_length - len(prompt_ids)], cut | CUT_TARGET
    return prompt_ids, completion_ids, cut


def tokenize_pair(tokenizer, prompt: str, completion: str, style: str | None = None, max_source: int | None = None,
                  max_target: int | None = None, max_length: int | None = None) -> dict:
    """BOS + tokens(prompt in `style`), then tokens(completion) + EOS (a chat template's turns with
    `chat`), cut as `fit` says; labels -100 on the prompt part; `cut` says what was cut. The same
    functions (bonito_hub.format) give evaluation its prompts and scored answers, so a student is
    scored on exactly the tokens it was trained to write."""
    prompt_ids, completion_ids, cut = fit(encode_prompt(tokenizer, prompt, style),
                                          encode_response(tokenizer, prompt, completion, style),
                                          max_source, max_target, max_length)
    return {"input_ids": prompt_ids + completion_ids, "labels": [-100] * len(prompt_ids) + completion_ids, "cut": cut}


def prompt_style(args: RecipeConfig, tokenizer) -> str:
    """The prompt style a recipe resolves to: `auto` is chat when the tokenizer has a chat
    template, else plain. Evaluation presents its prompts the same way."""
    if args.prompt_style == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "plain"
    return args.prompt_style


def prepare_dataset(dataset, objective: str, tokenizer, args: RecipeConfig, max_length: int | None = None,
                    counts: dict | None = None):
    """The split in a form SFTTrainer consumes as is: for the generator and the student, token ids
    and labels cut as `fit` says (so SFTTrainer's own cut at max_length never reaches a response).
    `counts`, when given, receives how many examples had their prompt or response cut, and how many
    were dropped for having no response token left."""
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
    style = prompt_style(args, tokenizer) if objective == "student" else None  # the generator reads its input as it is
    tokenized = dataset.map(lambda i, o: tokenize_pair(tokenizer, i, o, style, args.max_source_length,
                                                       args.max_target_length, max_length),
                            input_columns=["input", "output"], remove_columns=columns)
    cuts = tokenized["cut"]
    kept = tokenized.filter(lambda labels: any(x != -100 for x in labels), input_columns="labels")
    said = {"source_cut": sum(1 for c in cuts if c & CUT_SOURCE), "target_cut": sum(1 for c in cuts if c & CUT_TARGET),
            "dropped_without_response": len(tokenized) - len(kept)}
    if any(said.values()):
        log.info("%s examples: %d had their prompt cut to %s tokens, %d their response to %s; %d left without any "
                 "response token were dropped", objective, said["source_cut"], args.max_source_length,
                 said["target_cut"], args.max_target_length, said["dropped_without_response"])
    if counts is not None:
        counts.update(said)
    return kept.remove_columns("cut")


@dataclass
class TrainingData:
    objective: str
    train: object
    evaluation: object | None
    prompt_style: str | None = None  # how the student saw its instructions (chat, plain, bonito)
    cut: dict | None = None  # training examples cut (prompt, response) and dropped for want of a response token


def prepare_data(script_args: RecipeConfig, training_args, tokenizer) -> TrainingData:
    """The train split (and the test split when evaluating) ready for SFTTrainer, and the objective."""
    splits = load_training_data(script_args)
    objective = detect_objective(splits["train"].column_names, script_args)
    cut: dict = {}
    train = prepare_dataset(splits["train"], objective, tokenizer, script_args, training_args.max_length, counts=cut)
    evaluation = None
    if training_args.eval_strategy != "no" and script_args.dataset_test_split in splits:
        evaluation = prepare_dataset(splits[script_args.dataset_test_split], objective, tokenizer, script_args,
                                     training_args.max_length)
    log.info("%s objective: %d training examples from %s", objective, len(train),
             Path(script_args.dataset_name).name if hub.is_local(script_args.dataset_name) else script_args.dataset_name)
    # how evaluation prompts what this trains: the student as it saw its instructions; a DAPT model as
    # the paper prompted its TAPT/DAPT baselines (instruct); the generator is not scored on targets
    style = prompt_style(script_args, tokenizer) if objective == "student" else "instruct" if objective == "dapt" \
        else None
    return TrainingData(objective, train, evaluation, style, cut or None)
