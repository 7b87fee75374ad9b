"""Supervised fine-tuning for Bonito: the generator on CTGA, the student on generated tasks,
and the next-word-prediction baseline, each from a YAML recipe.

    accelerate launch recipes/sft.py --config recipes/generator/bonito-v1-mistral-7b.yaml
    python recipes/sft.py --config recipes/smoke/student.yaml --max_steps 5

Any recipe key can be overridden on the command line (--learning_rate 2e-4). The script is
bonito_hub.sft (installed with the package, so `bonito adapt` trains with the same code); what
each objective trains on lives in bonito_hub.training.
"""

from bonito_hub.sft import cli, main, parse  # noqa: F401 (main and parse: for callers that load this file)

if __name__ == "__main__":
    cli()
