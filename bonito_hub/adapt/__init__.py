"""`bonito adapt`: generate, evaluate, train, evaluate, push as one resumable command.

    config.py   AdaptConfig: adapt's own options and the generation's, embedded whole
    runner.py   Step and StepRunner: resumable steps over a folder (reuse, resume, redo, refuse)
    loop.py     the steps of the loop and Adaptation, the run that walks them
    report.py   the summary in adapt.json and the before/after table that ends a run
"""

from bonito_hub.adapt.config import (DEFAULT_RECIPE, SET_BY_ADAPT, STEP_NAMES, AdaptArgs, AdaptConfig, AdaptOutput,
                                     paper_row)
from bonito_hub.adapt.loop import RECORD_NAME, Adaptation, EvaluationSet, adapt, estimate_generation, plan, steps
from bonito_hub.adapt.report import MAX_HELDOUT_OVERLAP, summary_table
from bonito_hub.generate import DEFAULT_HOLDOUT

__all__ = ["DEFAULT_HOLDOUT", "DEFAULT_RECIPE", "MAX_HELDOUT_OVERLAP", "RECORD_NAME", "SET_BY_ADAPT", "STEP_NAMES",
           "AdaptArgs", "AdaptConfig", "AdaptOutput", "Adaptation", "EvaluationSet", "adapt", "estimate_generation", "paper_row", "plan", "steps", "summary_table"]
