"""`bonito evaluate`: a model (and optionally its adapter) on a target, with the paper's protocol.

The output folder holds:
  scores.json     the record: per-template and mean scores (in percent), the target, the model,
                  the prompt style, versions; for classification `baseline`, what always giving
                  the commonest answer scores and the count of each answer (`metrics` lists
                  accuracy alone when the choices change from row to row); written last, so its
                  presence means a finished run
  predictions/    one JSON Lines file a prompt: each row's prediction next to its gold answer
  tasks/          the lm-eval task folder that ran (lm_eval --include_path tasks --tasks GROUP)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bonito_hub import console, hub, records
from bonito_hub.console import deprecated, get_logger
from bonito_hub.errors import ConfigError, InputError, OutputError
from bonito_hub.evaluation import harness, metrics
from bonito_hub.targets import Target, builtin_targets, load_target
from bonito_hub.folders import claim_output, lock, staged
from bonito_hub.format import PROMPT_STYLES
from bonito_hub.models import BACKENDS, check_model_available, resolve_backend, same_model
from bonito_hub.options import option
from bonito_hub.records import make_record, read_record, write_record

RECORD_NAME = records.SCORES
PACKAGES = ("lm_eval", "torch", "transformers", "peft", "datasets")
log = get_logger(__name__)


def _target_help() -> str:
    return ("a built-in target (" + ", ".join(builtin_targets()) + ") or your labelled JSON Lines file: passage, "
            "question or hypothesis, answer, and choices for classification (or options for multiple choice)")


@dataclass
class EvaluationConfig:
    """What `bonito evaluate` takes (each field is its flag). `model` may be left out when `adapter`
    names its base model."""

    target: str = option(help=_target_help)
    model: str | None = option(None, help="base model: a local folder or a Hub id (default: the adapter's base model)")
    adapter: str | None = option(None, help="a LoRA adapter folder (recipes/sft.py output) to evaluate on top of "
                                 "--model")
    data: str | None = option(None, help="a built-in target's test split from a local file (.parquet/.arrow/.jsonl) "
                              "instead of the Hub")
    prompt_style: str = option("auto", choices=("auto", *PROMPT_STYLES), help="how prompts reach the model; auto: as "
                               "the adapter's student was trained (its training record), else chat when the tokenizer "
                               "has a chat template, else instruct under the paper's protocol (its prompt for a "
                               "pretrained model) or plain")
    backend: str = option("auto", choices=BACKENDS, help="lm-eval's model: auto picks vLLM when it is installed and "
                          "a GPU is visible; either scores the same tokens. Under the paper's protocol classification "
                          "is scored on transformers, as the paper's was")
    batch_size: int | None = option(None, help="prompts a batch (default: 8 on a CPU, lm-eval's auto on a GPU)")
    dtype: str = option("auto", help="weights' dtype (auto: float32 on a CPU, the model's own on a GPU)")
    limit: int | None = option(None, help="only the first N rows: a quick look, not the protocol")
    protocol: str = option("auto", choices=("auto", "paper", "bonito-hub"), help="paper: the paper's prompts, answer "
                           "words and truncation (docs/protocol.md); bonito-hub: ours; auto: the paper's for the seven "
                           "built-in targets, ours for your own file")
    force: bool = option(False, help="evaluate an adapter on another --model than the base model it was trained on")
    prompt_format: str | None = option(None, choices=("auto", *PROMPT_STYLES), help=argparse.SUPPRESS)  # 0.1's name

    def __post_init__(self):
        if self.prompt_format is not None:
            deprecated("`prompt_format` is now called `prompt_style`; the old name goes in 0.2")
            self.prompt_style, self.prompt_format = self.prompt_format, None
        if self.prompt_style != "auto" and self.prompt_style not in PROMPT_STYLES:
            raise ConfigError(f"`prompt_style` must be auto, {', '.join(PROMPT_STYLES)}, got {self.prompt_style!r}",
                              field="prompt_style")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"`limit` must be at least 1 row, got {self.limit}", field="limit")
        if not self.model and not self.adapter:
            raise ConfigError("give `model`, `adapter`, or both", field="model")
        from bonito_hub.targets import PROTOCOLS

        if self.protocol not in ("auto", *PROTOCOLS):
            raise ConfigError(f"`protocol` must be auto, {', '.join(PROTOCOLS)}, got {self.protocol!r}",
                              field="protocol")


@dataclass(kw_only=True)
class EvaluationOutput:
    """Where `bonito evaluate` writes."""

    output: str = option(help="folder to write: scores.json, predictions/, tasks/")
    overwrite: bool = option(False, help="replace an earlier evaluation in --output")


ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def adapter_info(adapter: str) -> dict:
    """The adapter's PEFT config and, when it has one, its training record; a folder without a
    readable config or without weights is one line."""
    path = Path(adapter)
    config = path / "adapter_config.json"
    if not config.is_file():
        raise InputError(f"`adapter` {adapter}: no adapter_config.json there (a folder written by recipes/sft.py "
                         "with use_peft, or by PeftModel.save_pretrained)", field="adapter")
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
        if not isinstance(parsed, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise InputError(f"`adapter` {adapter}: its adapter_config.json is not readable ({exc})",
                         field="adapter") from None
    if not any((path / name).is_file() for name in ADAPTER_WEIGHTS):
        raise InputError(f"`adapter` {adapter}: no weights there ({' or '.join(ADAPTER_WEIGHTS)}); was the "
                         "training interrupted before it saved?", field="adapter")
    return {"config": parsed, "record": read_record(path / records.TRAINING)}


def resolve_prompt_style(prompt_style: str, model: str, adapter: dict | None, protocol: str = "bonito-hub") -> str:
    """auto: the prompt style the adapter's student was trained with (its training record); else
    chat when the model's tokenizer has a chat template (under the paper's protocol, chat becomes
    inst, the paper's prompt for an instruction-tuned model); else, under the paper's protocol, bonito
    for an adapter without a record (the paper prompted every checkpoint it adapted with
    <|input|>/<|output|>: its P3 adapters, any Hub adapter) and instruct without one
    ("Instruct: ...\nAnswer:", how it prompts a pretrained model it did not adapt); else plain."""
    if prompt_style != "auto":
        return prompt_style
    record = (adapter or {}).get("record") or {}
    recorded = record.get("prompt_style") or record.get("student_format")  # the record's key in 0.1
    if recorded:
        return _paper_chat(recorded, protocol)
    from transformers import AutoTokenizer

    if getattr(AutoTokenizer.from_pretrained(model), "chat_template", None):
        return _paper_chat("chat", protocol)
    if protocol == "paper" and adapter is not None:
        log.info("the adapter has no training record saying how it was prompted; under the paper's protocol it is "
                 "prompted as the paper prompted every checkpoint it adapted (bonito: <|input|>/<|output|>); give "
                 "--prompt-style to choose another")
        return "bonito"
    return "instruct" if protocol == "paper" else "plain"


def _paper_chat(style: str, protocol: str) -> str:
    """Under the paper's protocol a chat student is prompted and scored as the paper's evaluation did
    it for Mistral-7B-Instruct: "[INST] ... [/INST]", the answer's tokens alone (inst)."""
    if style == "chat" and protocol == "paper":
        log.info("under the paper's protocol a chat model is prompted [INST] ... [/INST] and scored on its "
                 "answer's tokens alone, as the paper's evaluation did (inst); --protocol bonito-hub scores the "
                 "tokens it trained on")
        return "inst"
    return style


def _scores(target: Target, results: dict) -> dict:
    per_template = {}
    for prompt in target.prompts:
        row = results["results"][harness.task_name(target, prompt)]
        per_template[prompt.name] = {m: 100 * float(row[f"{key},none"])
                                     for m, key in harness.METRICS[target.kind].items()}
    mean = {m: statistics.fmean(s[m] for s in per_template.values()) for m in harness.METRICS[target.kind]}
    return {"per_template": per_template, "mean": mean}


def _predictions(target: Target, prompt, samples: list[dict]) -> str:
    lines = []
    for s in sorted(samples, key=lambda s: s["doc_id"]):
        doc = s["doc"]
        if target.is_classification:
            log_probs = [float(r[0]) for r in s["filtered_resps"]]
            pick = max(range(len(log_probs)), key=log_probs.__getitem__)
            label, choices = doc[f"label__{prompt.key}"], doc[f"choices__{prompt.key}"]
            row = {"doc_id": s["doc_id"], "label": label, "choices": choices, "prediction": pick,
                   "log_probs": log_probs, "correct": pick == label}
        else:
            text = s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
            row = {"doc_id": s["doc_id"], "answers": doc["answers"], "prediction": str(text).strip(),
                   "f1": s["f1"], "exact_match": s["exact_match"]}
        lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def evaluate(config: EvaluationConfig, output: str | Path, overwrite: bool = False, progress: bool = True) -> dict:
    """Evaluate and write `output`; returns the record (also in output/scores.json). `progress`:
    bars (lm-eval's too) when the command draws bars."""
    with lock(output):
        return _evaluate(config, Path(output), overwrite, progress)


def _evaluate(config: EvaluationConfig, output: Path, overwrite: bool, progress: bool) -> dict:
    started = time.time()
    earlier = claim_output(output, RECORD_NAME, f"an evaluation ({RECORD_NAME})")
    if earlier and not overwrite:
        raise OutputError(f"`output` {output} holds an earlier evaluation ({earlier.get('target', {}).get('name')}); "
                          "`overwrite` replaces it", field="output")
    adapter = adapter_info(config.adapter) if config.adapter else None
    model = config.model or ((adapter or {}).get("config") or {}).get("base_model_name_or_path")
    if not model:
        raise ConfigError("`model` is required (the adapter's config names no base model)", field="model")
    trained_on = ((adapter or {}).get("config") or {}).get("base_model_name_or_path")
    if trained_on and not config.force and not same_model(trained_on, model):
        raise ConfigError(f"`adapter` {config.adapter} was trained on {trained_on!r}, not on `model` {model!r}; its "
                          "scores there would not be this adapter's. Pass `force` to evaluate it on that model anyway",
                          field="model")
    # Everything that can be checked before a model loads is checked here.
    check_model_available(model)
    if config.target in builtin_targets() and not config.data:
        hub.check_reachable(f"`target` {config.target} (or give a local copy with `data`)")
    target = load_target(config.target, config.data, config.protocol)
    prompt_style = resolve_prompt_style(config.prompt_style, model, adapter, target.protocol)
    backend = harness.scoring_backend(target, asked := resolve_backend(config.backend))
    if backend != asked:
        log.info("under the paper's protocol %s is scored on transformers, as the paper's evaluation scored "
                 "classification (vLLM generates its extractive-QA answers); --protocol bonito-hub scores it on "
                 "vLLM, on the same tokens", target.title)
    device = _device()
    dtype = config.dtype if config.dtype != "auto" or device == "cuda" else "float32"
    batch_size = config.batch_size or (8 if device == "cpu" else "auto")
    rows = harness.rendered_rows(target, config.limit)
    max_prompt_tokens = harness.PAPER_MAX_PROMPT_TOKENS if target.protocol == "paper" else None
    name, args = harness.model_spec(backend, model, config.adapter, dtype, prompt_style, max_prompt_tokens,
                                    ((adapter or {}).get("config") or {}).get("r"))
    log.info("evaluating %s%s on %s (%d rows, %d prompts, %s protocol, %s prompt style, %s)", model,
             f" + {config.adapter}" if config.adapter else "", target.title, len(rows), len(target.prompts),
             target.protocol, prompt_style, backend)
    with tempfile.TemporaryDirectory(prefix="bonito-eval-") as tmp:
        group = harness.write_tasks(target, Path(tmp), rows)
        results = harness.run_tasks(Path(tmp), group, name, args, batch_size, device, bars=console.bars_on(progress))
    scores = _scores(target, results)
    limited = len(rows) < len(target.rows)
    baseline = metrics.majority_baseline(target.rows[:len(rows)]) if target.is_classification else {}
    scored = [m for m in harness.METRICS[target.kind] if m in baseline.get("scores", {}) or not baseline]
    record = make_record(
        config, packages=PACKAGES, started=started,
        model=model, adapter=config.adapter, prompt_style=prompt_style, protocol=target.protocol, backend=backend,
        **({"backend_asked": asked} if asked != backend else {}),
        device=device, limited=limited,
        target={"name": target.name, "title": target.title, "kind": target.kind, "task_type": target.task_type,
                "rows": len(rows), "rows_in_target": len(target.rows), "source": target.source, "group": group,
                "prompts": [p.name for p in target.prompts]},
        metrics=scored, scores=scores, **({"baseline": baseline} if baseline else {}),
        lm_eval_command=harness.command(name, args, group, batch_size),
    )
    with staged(output) as folder:
        harness.write_tasks(target, folder / "tasks", rows, relative=True)
        (folder / "predictions").mkdir()
        for prompt in target.prompts:
            samples = results["samples"][harness.task_name(target, prompt)]
            (folder / "predictions" / f"{prompt.key}.jsonl").write_text(_predictions(target, prompt, samples),
                                                                         encoding="utf-8")
        write_record(folder / RECORD_NAME, record)
    return record
