"""`bonito evaluate`: a model, and its adapter, on a target (bonito_hub.evaluation.evaluate)."""

from __future__ import annotations

import argparse

from bonito_hub.commands.base import Command, config_from


class Evaluate(Command):
    name = "evaluate"
    help = "score a model (and its adapter) on a target with the paper's protocol, on lm-eval"

    def add_arguments(self, e) -> None:
        from bonito_hub.evaluation import PROMPT_STYLES, builtin_targets
        from bonito_hub.models import BACKENDS

        e.add_argument("--model", help="base model: a local folder or a Hub id (default: the adapter's base model)")
        e.add_argument("--adapter", help="a LoRA adapter folder (recipes/sft.py output) to evaluate on top of --model")
        e.add_argument("--target", required=True,
                       help="a built-in target (" + ", ".join(builtin_targets()) + ") or your labelled JSON Lines "
                            "file: passage, question or hypothesis, answer, and choices for classification")
        e.add_argument("--output", required=True, help="folder to write: scores.json, predictions/, tasks/")
        e.add_argument("--data", help="a built-in target's test split from a local file (.parquet/.arrow/.jsonl) "
                                      "instead of the Hub")
        e.add_argument("--protocol", choices=["auto", "paper", "bonito-hub"], default="auto",
                       help="paper: the paper's prompts, answer words and truncation (docs/protocol.md); bonito-hub: "
                            "ours; auto: the paper's for the seven built-in targets, ours for your own file")
        e.add_argument("--prompt-style", choices=["auto", *PROMPT_STYLES], default="auto",
                       help="how prompts reach the model; auto: as the adapter's student was trained (its training "
                            "record), else chat when the tokenizer has a chat template, else instruct under the "
                            "paper's protocol (its prompt for a pretrained model) or plain")
        e.add_argument("--prompt-format", dest="prompt_format", choices=["auto", *PROMPT_STYLES],
                       help=argparse.SUPPRESS)  # the name of 0.1, deprecated
        e.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="lm-eval's model: auto picks vLLM when it is installed and a GPU is visible")
        e.add_argument("--batch-size", type=int, help="prompts a batch (default: 8 on a CPU, lm-eval's auto on a GPU)")
        e.add_argument("--dtype", default="auto",
                       help="weights' dtype (default: float32 on a CPU, the model's own on a GPU)")
        e.add_argument("--limit", type=int, help="only the first N rows: a quick look, not the protocol")
        e.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --output")
        e.add_argument("--force", action="store_true",
                       help="evaluate an adapter on another --model than the base model it was trained on")

    def run(self, args) -> int:
        from bonito_hub.evaluation import EvaluationConfig, evaluate

        record = evaluate(config_from(EvaluationConfig, args), args.output, overwrite=args.overwrite,
                          progress=not args.no_progress)
        print(scores_table(record))
        print(f"scores: {args.output}/scores.json; predictions: {args.output}/predictions/")
        return 0


def scores_table(record: dict) -> str:
    target, scores, metrics = record["target"], record["scores"], record["metrics"]
    who = record["model"] + (f" + {record['adapter']}" if record["adapter"] else "")
    rows = f"{target['rows']} of {target['rows_in_target']} rows" if record.get("limited") else f"{target['rows']} rows"
    lines = [f"{target['title']} ({target['kind']}, {rows}, {record['protocol']} protocol, {record['prompt_style']} "
             f"prompt style): {who}",
             f"  {'template':<22}" + "".join(f"{m:>13}" for m in metrics)]
    for name, row in scores["per_template"].items():
        lines.append(f"  {name:<22}" + "".join(f"{row[m]:>13.1f}" for m in metrics))
    lines.append(f"  {'mean':<22}" + "".join(f"{scores['mean'][m]:>13.1f}" for m in metrics))
    return "\n".join(lines)
