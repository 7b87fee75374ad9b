"""lm-eval's command line with bonito-hub's models (`bonito-hf`, and `bonito-vllm` where vLLM is
installed; bonito_hub.evaluation.model) registered, so that an evaluation's `tasks/` folder runs again by hand:

    cd OUT/tasks && python -m bonito_hub.evaluation.lm_eval run --model bonito-hf \\
        --model_args pretrained=...,peft=...,prompt_style=bonito --include_path . --tasks bonito_pubmedqa

scores.json records the exact command of each evaluation.
"""

import importlib.util

from bonito_hub.evaluation import model  # noqa: F401  (registers bonito-hf)

if importlib.util.find_spec("vllm") is not None:
    from bonito_hub.evaluation import vllm_model  # noqa: F401  (registers bonito-vllm)

if __name__ == "__main__":
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()
