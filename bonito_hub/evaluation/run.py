"""`bonito evaluate`: a model (and optionally its adapter) on a target, with the paper's protocol.

The output folder holds:
  scores.json     the record: per-template and mean scores (in percent), the target, the model,
                  the prompt format, versions; written last, so its presence means a finished run
  predictions/    one JSON Lines file a prompt: each row's prediction next to its gold answer
  tasks/          the lm-eval task folder that ran (lm_eval --include_path tasks --tasks GROUP)
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bonito_hub import hub
from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, InputError, OutputError
from bonito_hub.evaluation import harness
from bonito_hub.evaluation.targets import Target, builtin_targets, load_target
from bonito_hub.folders import claim_output, staged
from bonito_hub.models import check_model_available
from bonito_hub.records import make_record, read_record, write_record

RECORD_NAME = "scores.json"
OUR_ENTRIES = {RECORD_NAME, "predictions", "tasks"}
PACKAGES = ("lm_eval", "torch", "transformers", "peft", "datasets")
log = get_logger(__name__)


@dataclass
class EvaluationConfig:
    """What `bonito evaluate` takes. `model` may be left out when `adapter` names its base model."""

    target: str
    model: str | None = None
    adapter: str | None = None
    data: str | None = None  # a local copy of a built-in target's test split
    prompt_format: str = "auto"  # chat, plain, bonito, or auto (see resolve_format)
    backend: str = "auto"
    batch_size: int | None = None
    dtype: str = "auto"
    limit: int | None = None  # only the first N rows (a quick look; not the protocol)


def adapter_info(adapter: str) -> dict:
    """The adapter's PEFT config and, when it has one, its training record."""
    path = Path(adapter)
    config = path / "adapter_config.json"
    if not config.is_file():
        raise InputError(f"--adapter {adapter}: no adapter_config.json there (a folder written by recipes/sft.py "
                         "with use_peft, or by PeftModel.save_pretrained)")
    from bonito_hub.training import RECORD_NAME as TRAINING_RECORD

    return {"config": json.loads(config.read_text(encoding="utf-8")), "record": read_record(path / TRAINING_RECORD)}


def resolve_format(prompt_format: str, model: str, adapter: dict | None) -> str:
    """auto: the format the adapter's student was trained with (its training record); without an
    adapter, chat when the model's tokenizer has a chat template, else plain."""
    if prompt_format != "auto":
        if prompt_format not in harness.FORMATS:
            raise ConfigError(f"--prompt-format {prompt_format!r}: choose auto, {', '.join(harness.FORMATS)}")
        return prompt_format
    recorded = ((adapter or {}).get("record") or {}).get("student_format")
    if recorded:
        return recorded
    from transformers import AutoTokenizer

    return "chat" if getattr(AutoTokenizer.from_pretrained(model), "chat_template", None) else "plain"


def _scores(target: Target, results: dict) -> dict:
    per_template = {}
    for prompt in target.prompts:
        row = results["results"][harness.task_name(target, prompt.name)]
        per_template[prompt.name] = {m: 100 * float(row[f"{key},none"])
                                     for m, key in harness.METRICS[target.kind].items()}
    mean = {m: statistics.fmean(s[m] for s in per_template.values()) for m in harness.METRICS[target.kind]}
    return {"per_template": per_template, "mean": mean}


def _predictions(target: Target, samples: list[dict]) -> str:
    lines = []
    for s in sorted(samples, key=lambda s: s["doc_id"]):
        doc = s["doc"]
        if target.is_classification:
            log_probs = [float(r[0]) for r in s["filtered_resps"]]
            pick = max(range(len(log_probs)), key=log_probs.__getitem__)
            row = {"doc_id": s["doc_id"], "label": doc["label"], "prediction": pick, "log_probs": log_probs,
                   "correct": pick == doc["label"]}
        else:
            text = s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
            row = {"doc_id": s["doc_id"], "answers": doc["answers"], "prediction": str(text).strip(),
                   "f1": s["f1"], "exact_match": s["exact_match"]}
        lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def evaluate(config: EvaluationConfig, output: str | Path, overwrite: bool = False) -> dict:
    """Evaluate and write `output`; returns the record (also in output/scores.json)."""
    from bonito_hub.generate.engines import resolve_backend

    started = time.time()
    output = Path(output)
    earlier = claim_output(output, RECORD_NAME, OUR_ENTRIES, f"an evaluation ({RECORD_NAME})")
    if earlier and not overwrite:
        raise OutputError(f"--output {output} holds an earlier evaluation ({earlier.get('target', {}).get('name')}); "
                          "pass --overwrite to replace it")
    adapter = adapter_info(config.adapter) if config.adapter else None
    model = config.model or ((adapter or {}).get("config") or {}).get("base_model_name_or_path")
    if not model:
        raise ConfigError("--model is required (the adapter's config names no base model)")
    if config.limit is not None and config.limit < 1:
        raise ConfigError("--limit takes a positive number of rows")
    # Everything that can be checked before a model loads is checked here.
    check_model_available(model)
    if config.target in builtin_targets() and not config.data:
        hub.check_reachable(f"--target {config.target} (or give a local copy with --data)")
    target = load_target(config.target, config.data)
    prompt_format = resolve_format(config.prompt_format, model, adapter)
    backend = resolve_backend(config.backend)
    device = _device()
    dtype = config.dtype if config.dtype != "auto" or device == "cuda" else "float32"
    batch_size = config.batch_size or (8 if device == "cpu" else "auto")
    rows = min(len(target.rows), config.limit or len(target.rows))
    log.info("evaluating %s%s on %s (%d rows, %d prompts, %s format, %s)", model,
             f" + {config.adapter}" if config.adapter else "", target.title, rows, len(target.prompts),
             prompt_format, backend)
    with tempfile.TemporaryDirectory(prefix="bonito-eval-") as tmp:
        group = harness.write_tasks(target, Path(tmp), prompt_format, config.limit)
        results = harness.run_tasks(Path(tmp), group, backend, model, config.adapter, prompt_format, batch_size,
                                    dtype, device)
    scores = _scores(target, results)
    record = make_record(
        config, packages=PACKAGES, started=started,
        model=model, adapter=config.adapter, prompt_format=prompt_format, backend=backend, device=device,
        target={"name": target.name, "title": target.title, "kind": target.kind, "task_type": target.task_type,
                "rows": rows, "source": target.source, "group": group, "prompts": [p.name for p in target.prompts]},
        metrics=list(harness.METRICS[target.kind]), scores=scores,
    )
    with staged(output) as folder:
        harness.write_tasks(target, folder / "tasks", prompt_format, config.limit, data_at=output.absolute() / "tasks")
        (folder / "predictions").mkdir()
        for prompt in target.prompts:
            samples = results["samples"][harness.task_name(target, prompt.name)]
            (folder / "predictions" / f"{prompt.name}.jsonl").write_text(_predictions(target, samples), encoding="utf-8")
        write_record(folder / RECORD_NAME, record)
    return record
