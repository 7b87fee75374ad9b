"""`bonito evaluate`: a model, and its adapter, on a target (bonito_hub.evaluation.evaluate)."""

from __future__ import annotations

from bonito_hub.commands.base import Command


class Evaluate(Command):
    name = "evaluate"
    help = "score a model (and its adapter) on a target with the paper's protocol, on lm-eval"

    def options(self) -> list[type]:
        from bonito_hub.evaluation import EvaluationConfig, EvaluationOutput

        return [EvaluationConfig, EvaluationOutput]

    def run(self, args) -> int:
        from bonito_hub.evaluation import EvaluationConfig, evaluate
        from bonito_hub.options import parts_from

        (config,) = parts_from(args, EvaluationConfig)
        record = evaluate(config, args.output, overwrite=args.overwrite, progress=not args.no_progress)
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
