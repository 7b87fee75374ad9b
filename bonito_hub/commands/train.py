"""`bonito train`: a training recipe, launched through accelerate as `trl sft` launches TRL's
scripts (trl/cli/commands/training.py), from the installed package: no clone needed.

    bonito train --recipe student/mistral-7b-qlora dataset_name=tasks/ output_dir=student/
    bonito train --recipe generator/bonito-v1-mistral-7b --accelerate-config multi_gpu dataset_name=ctga/

The recipe is parsed and checked here first (the model, the output folder, the optimizer, every
key), so a mistake is one line before accelerate starts anything; then bonito_hub.sft runs under
`accelerate launch --quiet`, which lets the script's own one-line errors through.
"""

from __future__ import annotations

from bonito_hub.commands.base import Command
from bonito_hub.options import key_values


class Train(Command):
    name = "train"
    help = "train the generator, a student or the baseline from a recipe, through accelerate"
    interrupted = "the last checkpoint is kept; run the same command with resume_from_checkpoint=PATH to go on"
    after_os_error = "the last checkpoint is kept"

    def add_arguments(self, t) -> None:
        t.add_argument("--recipe", required=True,
                       help="a packaged recipe (student/mistral-7b-qlora, generator/bonito-v1-mistral-7b, "
                            "generator/qwen2.5-0.5b, dapt/mistral-7b-qlora, smoke/student, smoke/generator, "
                            "smoke/dapt) or a YAML file")
        t.add_argument("--accelerate-config", metavar="NAME|FILE",
                       help="a packaged accelerate config (cpu, multi_gpu, deepspeed_zero3, fsdp) or a file "
                            "(default: one process)")
        t.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="recipe keys to override, e.g. dataset_name=tasks/ output_dir=student/ max_steps=500")

    def explain(self, message) -> str:
        import re

        return re.sub(r"`([^`]+)`", r"\1", str(message))  # recipe keys are this command's words as they are

    def run(self, args) -> int:
        from bonito_hub.sft import launch

        overrides = [arg for key, value in key_values(args.overrides, "overrides", flag="KEY=VALUE")
                     for arg in (f"--{key.lstrip('-')}", value)]
        return launch(args.recipe, overrides, accelerate_config=args.accelerate_config, progress=not args.no_progress,
                      quiet=args.quiet)
