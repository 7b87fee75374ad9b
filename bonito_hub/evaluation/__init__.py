"""The paper's evaluation protocol on lm-evaluation-harness: targets, task configs, metrics, runs.

`evaluate(EvaluationConfig(...), output)` is the entry point (`bonito evaluate`, and the before
and after steps of `bonito adapt`).
"""

from bonito_hub.evaluation.run import EvaluationConfig, EvaluationOutput, evaluate
from bonito_hub.targets import builtin_targets, load_target
from bonito_hub.format import PROMPT_STYLES

__all__ = ["EvaluationConfig", "EvaluationOutput", "PROMPT_STYLES", "builtin_targets", "evaluate", "load_target"]
