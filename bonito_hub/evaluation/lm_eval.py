"""lm-eval's command line with bonito-hub's model (`bonito-hf`, bonito_hub.evaluation.model)
registered, so that an evaluation's `tasks/` folder runs again by hand:

    cd OUT/tasks && python -m bonito_hub.evaluation.lm_eval run --model bonito-hf \\
        --model_args pretrained=...,peft=...,prompt_style=bonito --include_path . --tasks bonito_pubmedqa

scores.json records the exact command of each evaluation.
"""

from bonito_hub.evaluation import model  # noqa: F401  (registers bonito-hf)

if __name__ == "__main__":
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()
