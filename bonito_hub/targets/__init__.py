"""Evaluation targets, on the ground floor: a labelled test set, its kind and its prompts
(load.py), and the paper's prompts as promptsource renders them (paper.py). The evaluation stage
scores a model on them; the contamination check (bonito_hub.overlap) and generation's
--exclude-overlap read their rows, without reaching the evaluation stage."""

from bonito_hub.targets.load import (KINDS, PROTOCOLS, Prompt, Target, builtin_targets, load_builtin, load_target,
                                     load_user, prompt_family)

__all__ = ["KINDS", "PROTOCOLS", "Prompt", "Target", "builtin_targets", "load_builtin", "load_target", "load_user",
           "prompt_family"]
