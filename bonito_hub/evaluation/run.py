"""`bonito evaluate`: a model (and optionally its adapter) on a target, with the paper's protocol.

The output folder holds:
  scores.json     the record: per-template and mean scores (in percent), the target, the model,
                  the prompt style, versions; written last, so its presence means a finished run
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

from bonito_hub import console, hub, records
from bonito_hub.console import deprecated, get_logger
from bonito_hub.errors import ConfigError, InputError, OutputError
from bonito_hub.evaluation import harness
from bonito_hub.evaluation.targets import Target, builtin_targets, load_target
from bonito_hub.folders import Ownership, claim_output, staged
from bonito_hub.format import PROMPT_STYLES
from bonito_hub.models import check_model_available, resolve_backend
from bonito_hub.records import make_record, read_record, write_record

RECORD_NAME = records.SCORES
# scores.json, a prediction file a prompt, the lm-eval task folder (and the bytecode of its hooks
# module, which a run of `lm_eval --include_path tasks` by hand leaves)
OWNERSHIP = Ownership(patterns=(RECORD_NAME, "predictions/*.jsonl", "tasks/*.yaml", "tasks/*.jsonl",
                                "tasks/bonito_hooks.py", "tasks/__pycache__/bonito_hooks.*.pyc"))
PACKAGES = ("lm_eval", "torch", "transformers", "peft", "datasets")
log = get_logger(__name__)


@dataclass
class EvaluationConfig:
    """What `bonito evaluate` takes. `model` may be left out when `adapter` names its base model."""

    target: str
    model: str | None = None
    adapter: str | None = None
    data: str | None = None  # a local copy of a built-in target's test split
    prompt_style: str = "auto"  # chat, plain, bonito, or auto (see resolve_prompt_style)
    backend: str = "auto"
    batch_size: int | None = None
    dtype: str = "auto"
    limit: int | None = None  # only the first N rows (a quick look; not the protocol)
    force: bool = False  # evaluate an adapter on another base model than the one it was trained on
    prompt_format: str | None = None  # the name of 0.1 for prompt_style (deprecated)

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


def adapter_info(adapter: str) -> dict:
    """The adapter's PEFT config and, when it has one, its training record."""
    path = Path(adapter)
    config = path / "adapter_config.json"
    if not config.is_file():
        raise InputError(f"`adapter` {adapter}: no adapter_config.json there (a folder written by recipes/sft.py "
                         "with use_peft, or by PeftModel.save_pretrained)")
    return {"config": json.loads(config.read_text(encoding="utf-8")), "record": read_record(path / records.TRAINING)}


def resolve_prompt_style(prompt_style: str, model: str, adapter: dict | None) -> str:
    """auto: the prompt style the adapter's student was trained with (its training record);
    without an adapter, chat when the model's tokenizer has a chat template, else plain."""
    if prompt_style != "auto":
        return prompt_style
    record = (adapter or {}).get("record") or {}
    recorded = record.get("prompt_style") or record.get("student_format")  # the record's key in 0.1
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


def same_model(a: str, b: str) -> bool:
    """Two names of one model: the same string, the same folder, or a folder named as the Hub id's
    repo (a local copy of ORG/NAME in a folder NAME)."""
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return pa.name == pb.name


def evaluate(config: EvaluationConfig, output: str | Path, overwrite: bool = False, progress: bool = True) -> dict:
    """Evaluate and write `output`; returns the record (also in output/scores.json). `progress`:
    bars (lm-eval's too) when the command draws bars."""
    started = time.time()
    output = Path(output)
    earlier = claim_output(output, RECORD_NAME, OWNERSHIP, f"an evaluation ({RECORD_NAME})")
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
    target = load_target(config.target, config.data)
    prompt_style = resolve_prompt_style(config.prompt_style, model, adapter)
    backend = resolve_backend(config.backend)
    device = _device()
    dtype = config.dtype if config.dtype != "auto" or device == "cuda" else "float32"
    batch_size = config.batch_size or (8 if device == "cpu" else "auto")
    rows = min(len(target.rows), config.limit or len(target.rows))
    log.info("evaluating %s%s on %s (%d rows, %d prompts, %s prompt style, %s)", model,
             f" + {config.adapter}" if config.adapter else "", target.title, rows, len(target.prompts),
             prompt_style, backend)
    with tempfile.TemporaryDirectory(prefix="bonito-eval-") as tmp:
        group = harness.write_tasks(target, Path(tmp), prompt_style, config.limit)
        results = harness.run_tasks(Path(tmp), group, backend, model, config.adapter, prompt_style, batch_size,
                                    dtype, device, bars=console.bars_on(progress))
    scores = _scores(target, results)
    record = make_record(
        config, packages=PACKAGES, started=started,
        model=model, adapter=config.adapter, prompt_style=prompt_style, backend=backend, device=device,
        target={"name": target.name, "title": target.title, "kind": target.kind, "task_type": target.task_type,
                "rows": rows, "source": target.source, "group": group, "prompts": [p.name for p in target.prompts]},
        metrics=list(harness.METRICS[target.kind]), scores=scores,
    )
    with staged(output) as folder:
        harness.write_tasks(target, folder / "tasks", prompt_style, config.limit, data_at=output.absolute() / "tasks")
        (folder / "predictions").mkdir()
        for prompt in target.prompts:
            samples = results["samples"][harness.task_name(target, prompt.name)]
            (folder / "predictions" / f"{prompt.name}.jsonl").write_text(_predictions(target, samples), encoding="utf-8")
        write_record(folder / RECORD_NAME, record)
    return record
