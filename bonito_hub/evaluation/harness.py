"""The evaluation protocol as lm-evaluation-harness tasks, and running them.

`write_tasks` writes a target as an lm-eval task folder: the target's rows with every prompt
already rendered (one JSON object a line: `prompt__<key>`, and `choices__<key>`/`label__<key>` or
`answers`), one task config per prompt, a group config over the five, and the module of hooks the
configs name. Prompts are rendered here, not by lm-eval's Jinja, so the paper's are exactly what
its code renders (bonito_hub.targets.paper). In the configs:

  classification  output_type multiple_choice: each choice is scored by the summed log-probability
                  of its tokens after the prompt, the highest wins (lm-eval's `acc`, not
                  `acc_norm`, is the paper's ranked accuracy); macro F1 is an aggregation over
                  (gold, predicted) pairs;
  exqa            output_type generate_until, greedy (do_sample false), at most 25 new tokens,
                  no stop string but end of sequence; SQuAD F1 and exact match per sample.

The prompt reaches the model in the student's prompt style, and the scored choice is tokenised as
training tokenised responses: both are the model's, `bonito-hf` or `bonito-vllm`
(bonito_hub.evaluation.model), so the configs hold the bare prompt. `python -m bonito_hub.evaluation.lm_eval run --model
bonito-hf --include_path FOLDER --tasks bonito_<target>` runs a written folder again by hand.
"""

from __future__ import annotations

import json
import random
import re
from contextlib import contextmanager
from pathlib import Path

import yaml

from bonito_hub.errors import InputError, RunError, cause
from bonito_hub.targets import Target

HOOKS_MODULE = "bonito_hooks"
MAX_NEW_TOKENS = 25  # the paper's extractive-QA decoding budget
PAPER_MAX_PROMPT_TOKENS = 1024  # the paper's evaluation cuts each prompt (BOS and style included) here
# Each kind's metrics: our name (scores.json) -> the metric lm-eval computes and reports.
METRICS = {"classification": {"accuracy": "acc", "f1": "f1"}, "exqa": {"f1": "f1", "exact_match": "exact_match"}}


def task_name(target: Target, prompt) -> str:
    return f"{group_name(target)}_{prompt.key}"


def group_name(target: Target) -> str:
    return "bonito_" + re.sub(r"[^a-z0-9]+", "_", target.name.lower()).strip("_")


def _jinja(text: str):
    from jinja2 import BaseLoader
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(loader=BaseLoader(), keep_trailing_newline=True).from_string(text)


def rendered_rows(target: Target, limit: int | None = None, seed: int = 0) -> list[dict]:
    """The target's rows with each prompt rendered: `prompt__<key>` for every prompt, and
    `choices__<key>`, `label__<key>` (classification) or `answers` (extractive QA)."""
    from bonito_hub.targets import paper

    n = min(len(target.rows), limit or len(target.rows))
    out = []
    for i in range(n):
        row = target.rows[i]
        item = {"row": i}
        if target.protocol == "paper":
            raw = target.raw_rows[i]
            for prompt in target.prompts:
                rng = random.Random(f"{seed}/{target.name}/{prompt.key}/{i}")
                template = {"name": prompt.name, "jinja": prompt.text, "answer_choices": prompt.answer_choices}
                text, gold, choices = paper.render(template, raw, rng)
                item[f"prompt__{prompt.key}"] = text
                if target.is_classification:
                    if gold not in choices:
                        raise InputError(f"{target.title}, row {i}, prompt {prompt.name!r}: its answer {gold!r} is "
                                         f"not one of its choices {choices}")
                    item[f"choices__{prompt.key}"], item[f"label__{prompt.key}"] = choices, choices.index(gold)
            if not target.is_classification:
                item["answers"] = row["answers"][:1]  # the paper scores the first gold answer only
        else:
            for prompt in target.prompts:
                choices = list(prompt.choices) if prompt.choices and target.classes else row.get("choices")
                item[f"prompt__{prompt.key}"] = _jinja(prompt.text).render(**{**row, "choices": choices})
                if target.is_classification:
                    item[f"choices__{prompt.key}"], item[f"label__{prompt.key}"] = choices, row["label"]
            if not target.is_classification:
                item["answers"] = row["answers"]  # the best of the gold answers counts
        out.append(item)
    return out


def _yaml(config: dict, functions: dict[str, str]) -> str:
    """A task config as YAML, with lm-eval's `!function` tags for the hooks named in `functions`."""
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=10_000)
    for key, function in functions.items():
        text = text.replace(f"'@{key}'", f"!function {HOOKS_MODULE}.{function}")
    return text


def task_config(target: Target, prompt, data_file: str) -> str:
    config = {
        "task": task_name(target, prompt),
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": data_file}},
        "test_split": "test",
        "doc_to_text": f"prompt__{prompt.key}",
        "target_delimiter": "",
    }
    if target.is_classification:
        config.update({
            "output_type": "multiple_choice",
            "doc_to_choice": "{{choices__" + prompt.key + "}}",
            "doc_to_target": f"label__{prompt.key}",
            "metric_list": [
                {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                {"metric": "f1", "aggregation": "@macro_f1", "higher_is_better": True},
            ],
        })
        functions = {"macro_f1": "macro_f1_aggregation"}
    else:
        config.update({
            "output_type": "generate_until",
            "doc_to_target": "{{answers[0]}}",
            "generation_kwargs": {"until": [], "do_sample": False, "max_gen_toks": MAX_NEW_TOKENS},
            "process_results": "@squad",
            "metric_list": [
                {"metric": "f1", "aggregation": "mean", "higher_is_better": True},
                {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True},
            ],
        })
        functions = {"squad": "squad_process_results"}
    config["metadata"] = {"version": 1, "prompt": prompt.name, "target": target.name, "protocol": target.protocol}
    return _yaml(config, functions)


def write_tasks(target: Target, folder: Path, rows: list[dict], relative: bool = False) -> str:
    """Write `target` as an lm-eval task folder holding `rows` (rendered_rows); returns the group's
    name. The configs name the data file by its absolute path, or (`relative`) by its name, for a
    folder that is run from inside itself after it is moved."""
    folder.mkdir(parents=True, exist_ok=True)
    data_file = folder / f"{group_name(target)}.jsonl"
    data_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (folder / f"{HOOKS_MODULE}.py").write_text(
        '"""Hooks the task configs beside this file name (bonito-hub\'s metrics)."""\n'
        "from bonito_hub.evaluation.metrics import macro_f1_aggregation, squad_process_results  # noqa: F401\n",
        encoding="utf-8")
    for prompt in target.prompts:
        (folder / f"{task_name(target, prompt)}.yaml").write_text(
            task_config(target, prompt, data_file.name if relative else str(data_file.absolute())), encoding="utf-8")
    metrics = METRICS[target.kind].values()
    group = {
        "group": group_name(target),
        "task": [task_name(target, p) for p in target.prompts],
        "aggregate_metric_list": [{"metric": m, "aggregation": "mean", "weight_by_size": False} for m in metrics],
        "metadata": {"version": 1, "title": target.title, "protocol": target.protocol},
    }
    (folder / f"{group_name(target)}.yaml").write_text(yaml.safe_dump(group, sort_keys=False), encoding="utf-8")
    return group_name(target)


VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


def scoring_backend(target: Target, backend: str) -> str:
    """The backend that scores `target`: under the paper's protocol classification is scored on
    transformers whatever the backend, as the paper's evaluate_decoder.py scored it (a forward pass
    of the Hugging Face model); vLLM is used for what the paper used it for, extractive QA's
    generation. Under bonito-hub's protocol, `backend`."""
    if target.protocol == "paper" and target.is_classification and backend == "vllm":
        return "transformers"
    return backend


def model_spec(backend: str, model: str, adapter: str | None, dtype: str, prompt_style: str,
               max_prompt_tokens: int | None = None, lora_rank: int | None = None) -> tuple[str, dict]:
    """lm-eval's model name and arguments: bonito-hf (lm-eval's Hugging Face model scoring the
    student's own tokens; the adapter through `peft`) or bonito-vllm (lm-eval's vLLM model scoring
    the same tokens; the adapter through `lora_local_path`, with a `max_lora_rank` that holds the
    adapter's rank)."""
    args = {"pretrained": model, "dtype": dtype}
    if backend == "vllm":
        name = "bonito-vllm"
        if adapter:
            rank = next((r for r in VLLM_LORA_RANKS if r >= (lora_rank or 16)), VLLM_LORA_RANKS[-1])
            args.update(lora_local_path=adapter, enable_lora=True, max_lora_rank=rank)
    else:
        name = "bonito-hf"
        if adapter:
            args["peft"] = adapter
    args["prompt_style"] = prompt_style
    if max_prompt_tokens:
        args["max_prompt_tokens"] = max_prompt_tokens
    return name, args


def command(name: str, args: dict, group: str, batch_size) -> str:
    """The lm-eval command line that runs a written tasks/ folder again by hand, from inside it."""
    import shlex

    model_args = ",".join(f"{k}={v}" for k, v in args.items())
    return "cd tasks && " + shlex.join(["python", "-m", "bonito_hub.evaluation.lm_eval", "run", "--model", name,
                                        "--model_args", model_args, "--include_path", ".", "--tasks", group,
                                        "--batch_size", str(batch_size)])


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


def run_tasks(folder: Path, group: str, name: str, args: dict, batch_size, device: str, bars: bool = False) -> dict:
    """Run the group in `folder` with lm-eval model `name` and its `args` (model_spec); its full
    results (with samples)."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager
    except ImportError as exc:  # pragma: no cover - a dependency of bonito-hub
        raise RunError(f"lm-evaluation-harness is not importable ({cause(exc)}); pip install 'lm-eval>=0.4.13'") from None
    if name == "bonito-hf":
        from bonito_hub.evaluation import model  # noqa: F401  (registers bonito-hf; its bars reach quiet_lm_eval)
    else:
        from bonito_hub.evaluation import vllm_model  # noqa: F401  (registers bonito-vllm)
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    who = args["pretrained"] + (f" + {args.get('peft') or args.get('lora_local_path')}"
                                if args.get("peft") or args.get("lora_local_path") else "")
    try:
        with quiet_lm_eval(bars):
            return simple_evaluate(
                model=name, model_args=args, tasks=[group], task_manager=manager, batch_size=batch_size,
                device=device if name == "bonito-hf" else None, log_samples=True,
            )
    except (OSError, ValueError, RuntimeError) as exc:
        raise RunError(f"lm-eval could not evaluate {who}: {cause(exc)}") from exc
