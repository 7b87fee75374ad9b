"""The evaluation protocol as lm-evaluation-harness tasks, and running them.

`write_tasks` writes a target as an lm-eval task folder: the target's rows (normalised, one JSON
object a line), one task config per prompt, a group config over the five, and the module of
hooks the configs name. `lm_eval --include_path FOLDER --tasks bonito_<target>` runs the same
folder by hand. In the configs:

  classification  output_type multiple_choice: lm-eval scores each choice by the summed
                  log-probability of its tokens after the prompt and takes the highest (its
                  `acc`, not `acc_norm`, is the paper's ranked accuracy); macro F1 is an
                  aggregation over (gold, predicted) pairs;
  exqa            output_type generate_until, greedy (do_sample false), at most 25 new tokens,
                  no stop string but end of sequence; SQuAD F1 and exact match per sample.

Prompts reach the model in the prompt style the student was trained with (training): `plain` the
prompt then a blank line, `bonito` the paper's <|input|>/<|output|> markers, `chat` the model's
chat template (lm-eval's apply_chat_template). The answer follows directly, as in training.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

import yaml

from bonito_hub.errors import ConfigError, RunError, cause
from bonito_hub.evaluation.targets import Target
from bonito_hub.format import PROMPT_STYLES, STUDENT_PROMPTS

HOOKS_MODULE = "bonito_hooks"
MAX_NEW_TOKENS = 25  # the paper's extractive-QA decoding budget
# Each kind's metrics: our name (scores.json) -> the metric lm-eval computes and reports.
METRICS = {"classification": {"accuracy": "acc", "f1": "f1"}, "exqa": {"f1": "f1", "exact_match": "exact_match"}}


def task_name(target: Target, prompt_name: str) -> str:
    return f"{group_name(target)}_{prompt_name}"


def group_name(target: Target) -> str:
    return "bonito_" + re.sub(r"[^a-z0-9]+", "_", target.name.lower()).strip("_")


def prompt_text(template: str, prompt_style: str) -> str:
    """The prompt's Jinja in the student's prompt style (chat: as is; lm-eval applies the template)."""
    if prompt_style == "chat":
        return template
    if prompt_style not in STUDENT_PROMPTS:
        raise ConfigError(f"`prompt_style` must be one of {', '.join(PROMPT_STYLES)}, got {prompt_style!r}",
                          field="prompt_style")
    return STUDENT_PROMPTS[prompt_style].replace("{input}", template)


def _yaml(config: dict, functions: dict[str, str]) -> str:
    """A task config as YAML, with lm-eval's `!function` tags for the hooks named in `functions`."""
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=10_000)
    for key, function in functions.items():
        text = text.replace(f"'@{key}'", f"!function {HOOKS_MODULE}.{function}")
    return text


def task_config(target: Target, prompt, data_file: Path, prompt_style: str) -> str:
    template = prompt.text
    config = {
        "task": task_name(target, prompt.name),
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
    }
    if target.is_classification:
        choices = "{{choices}}"
        if prompt.choices and target.classes:  # the prompt's own words for the target's classes
            if len(prompt.choices) != len(target.classes):
                raise ConfigError(f"prompt {prompt.name}: {len(prompt.choices)} choices for {len(target.classes)} classes")
            choices = list(prompt.choices)
            template = "{% set choices = " + json.dumps(choices) + " %}" + template
        config.update({
            "output_type": "multiple_choice",
            "doc_to_text": prompt_text(template, prompt_style),
            "doc_to_choice": choices,
            "doc_to_target": "label",
            "target_delimiter": "",
            "metric_list": [
                {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                {"metric": "f1", "aggregation": "@macro_f1", "higher_is_better": True},
            ],
        })
        functions = {"macro_f1": "macro_f1_aggregation"}
    else:
        config.update({
            "output_type": "generate_until",
            "doc_to_text": prompt_text(template, prompt_style),
            "doc_to_target": "{{answers[0]}}",
            "target_delimiter": "",
            "generation_kwargs": {"until": [], "do_sample": False, "max_gen_toks": MAX_NEW_TOKENS},
            "process_results": "@squad",
            "metric_list": [
                {"metric": "f1", "aggregation": "mean", "higher_is_better": True},
                {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True},
            ],
        })
        functions = {"squad": "squad_process_results"}
    config["metadata"] = {"version": 1, "prompt": prompt.name, "target": target.name}
    return _yaml(config, functions)


def write_tasks(target: Target, folder: Path, prompt_style: str, limit: int | None = None,
                data_at: Path | None = None) -> str:
    """Write `target` as an lm-eval task folder; returns the group's name. The configs name the
    data file in `folder`, or in `data_at` when the folder will be moved there."""
    folder.mkdir(parents=True, exist_ok=True)
    data_file = folder / f"{group_name(target)}.jsonl"
    rows = target.rows[:limit] if limit else target.rows
    data_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (folder / f"{HOOKS_MODULE}.py").write_text(
        '"""Hooks the task configs beside this file name (bonito-hub\'s metrics)."""\n'
        "from bonito_hub.evaluation.metrics import macro_f1_aggregation, squad_process_results  # noqa: F401\n",
        encoding="utf-8")
    for prompt in target.prompts:
        (folder / f"{task_name(target, prompt.name)}.yaml").write_text(
            task_config(target, prompt, (data_at or folder.absolute()) / data_file.name, prompt_style),
            encoding="utf-8")
    metrics = METRICS[target.kind].values()
    group = {
        "group": group_name(target),
        "task": [task_name(target, p.name) for p in target.prompts],
        "aggregate_metric_list": [{"metric": m, "aggregation": "mean", "weight_by_size": False} for m in metrics],
        "metadata": {"version": 1, "title": target.title},
    }
    (folder / f"{group_name(target)}.yaml").write_text(yaml.safe_dump(group, sort_keys=False), encoding="utf-8")
    return group_name(target)


def model_spec(backend: str, model: str, adapter: str | None, dtype: str, device: str) -> tuple[str, dict]:
    """lm-eval's model name and arguments: its Hugging Face model (adapter through `peft`) or its
    vLLM model (adapter through `lora_local_path`)."""
    if backend == "vllm":
        args = {"pretrained": model, "dtype": dtype}
        if adapter:
            args.update(lora_local_path=adapter, enable_lora=True)
        return "vllm", args
    args = {"pretrained": model, "dtype": dtype}
    if adapter:
        args["peft"] = adapter
    return "hf", args


@contextmanager
def quiet_lm_eval(bars: bool):
    """lm-eval as quiet as the command: without bars when ours are off (its models and tasks pass
    `disable=` to tqdm themselves, so its modules' `tqdm` is swapped for one that is off), and
    without the `git describe` it runs for its environment report (which prints git's "fatal: not
    a git repository" outside a repository; the report's git hash is not ours to give anyway)."""
    import sys

    from tqdm.auto import tqdm as real_tqdm

    def off(*args, **kwargs):
        kwargs["disable"] = True
        return real_tqdm(*args, **kwargs)

    swapped = []
    for name, module in list(sys.modules.items()):
        if name.startswith("lm_eval") and module is not None:
            if not bars and callable(getattr(module, "tqdm", None)) and getattr(module.tqdm, "__name__", "") == "tqdm":
                swapped.append((module, "tqdm", module.tqdm))
                module.tqdm = off
            if hasattr(module, "get_git_commit_hash"):
                swapped.append((module, "get_git_commit_hash", module.get_git_commit_hash))
                module.get_git_commit_hash = lambda: None
    try:
        yield
    finally:
        for module, attribute, value in swapped:
            setattr(module, attribute, value)


def run_tasks(folder: Path, group: str, backend: str, model: str, adapter: str | None, prompt_style: str,
              batch_size, dtype: str, device: str, bars: bool = False) -> dict:
    """Run the group in `folder` with lm-eval; its full results (with samples)."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager
    except ImportError as exc:  # pragma: no cover - a dependency of bonito-hub
        raise RunError(f"lm-evaluation-harness is not importable ({cause(exc)}); pip install 'lm-eval>=0.4.13'") from None
    name, args = model_spec(backend, model, adapter, dtype, device)
    if name == "hf":
        import lm_eval.models.huggingface  # noqa: F401  (imported now, so that quiet_lm_eval reaches its bars)
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    try:
        with quiet_lm_eval(bars):
            return simple_evaluate(
                model=name, model_args=args, tasks=[group], task_manager=manager, batch_size=batch_size,
                device=device if name == "hf" else None, log_samples=True, apply_chat_template=prompt_style == "chat",
            )
    except (OSError, ValueError, RuntimeError) as exc:
        raise RunError(f"lm-eval could not evaluate {model}{' + ' + adapter if adapter else ''}: {cause(exc)}") from exc
