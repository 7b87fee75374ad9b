"""Supervised fine-tuning for Bonito from a YAML recipe: the script `bonito train` and
recipes/sft.py launch, and the training step of `bonito adapt`. It reads like TRL's own SFT
script: load, prepare, train, save.

    bonito train --recipe student/mistral-7b-qlora dataset_name=tasks/ output_dir=student/
    accelerate launch recipes/sft.py --config recipes/generator/bonito-v1-mistral-7b.yaml
    python -m bonito_hub.sft --config smoke/student --max_steps 5

`--config` takes a recipe file or a packaged recipe's name (student/mistral-7b-qlora,
smoke/student, ...). Any recipe key can be overridden on the command line (--learning_rate
2e-4). What each objective trains on, and every decision about the data, lives in
bonito_hub.training.
"""

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
import time

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config

from bonito_hub import console, training
from bonito_hub.errors import BonitoError, DiskFull, disk_full
from bonito_hub.folders import Manifest, lock


def main(script_args: training.RecipeConfig, training_args: SFTConfig, model_args: ModelConfig,
         progress: bool = True) -> SFTTrainer:
    """Train as the recipe says. `progress`: the Trainer's bar when the command draws bars; else
    a line in the log every so often (console.LogProgress), never a line per step."""
    started = time.time()
    training.apply_global_batch(script_args, training_args)
    training.check_model(model_args, training_args)
    main_process = int(os.environ.get("RANK", "0")) == 0  # under accelerate, one process of several holds the folder
    with (lock(training_args.output_dir, field="output_dir") if main_process else contextlib.nullcontext()):
        return _main(script_args, training_args, model_args, progress, started)


def _main(script_args, training_args, model_args, progress: bool, started: float) -> SFTTrainer:
    training.check_output_dir(training_args.output_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        Manifest(training_args.output_dir).create()
    push = training.plan_push(script_args, training_args, model_args)
    tokenizer = training.load_tokenizer(model_args)
    data = training.prepare_data(script_args, training_args, tokenizer)
    training.configure_trainer(training_args, model_args, data.objective, data.train)
    bars = console.bars_on(progress)
    training_args.disable_tqdm = not bars
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.evaluation,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    manifest = training.ManifestCallback(training_args.output_dir)
    trainer.add_callback(manifest)
    if not bars:
        training.log_progress_instead_of_bars(trainer)
    try:
        result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    except Exception as exc:
        if disk_full(exc):
            partial = manifest.remove_partial()
            raise DiskFull(f"no space left on device while training{f' ({partial}, half written, removed)' if partial else ''}; "
                           f"{training.kept(training_args.output_dir)}") from None
        raise
    training.save(trainer, tokenizer, script_args, training_args, model_args, data, result, started, push)
    return trainer


def parse(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" in argv[:-1]:  # a packaged recipe by name, or a file
        i = argv.index("--config") + 1
        argv[i] = training.recipe_path(argv[i])
    parser = TrlParser((training.RecipeConfig, SFTConfig, ModelConfig))
    script_args, training_args, model_args = training.parse_recipe(parser, argv)
    if "--config" in argv:
        script_args.recipe = training.recipe_name(argv[argv.index("--config") + 1])
    return script_args, training_args, model_args


# accelerate's defaults said out loud, so that a launch without a config prints no warning
SINGLE_PROCESS = ["--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


def launch(recipe: str, overrides: list[str], accelerate_config: str | None = None, progress: bool = True,
           quiet: bool = False) -> int:
    """Check the recipe (a packaged name or a file) with `overrides` (["--key", "value", ...]) here,
    then run bonito_hub.sft under `accelerate launch`; its exit status. Ctrl-C is a
    KeyboardInterrupt whose message says what is kept and how to go on."""
    from accelerate.commands.launch import launch_command, launch_command_parser

    argv = ["--config", training.recipe_path(recipe), *overrides]
    script_args, training_args, model_args = parse(argv)  # every key, every value: one line if wrong
    training.check_model(model_args, training_args)
    training.check_output_dir(training_args.output_dir)
    launch_args = ["--quiet"] + (["--config_file", training.recipe_path(accelerate_config, "accelerate")]
                                 if accelerate_config else SINGLE_PROCESS)
    script = importlib.util.find_spec("bonito_hub.sft").origin
    console.get_logger(__name__).info("training %s with accelerate (%s)", script_args.recipe,
                                      accelerate_config or "one process")
    if not progress:
        os.environ["BONITO_NO_PROGRESS"] = "1"  # the script's own switch (it takes no --no-progress)
    if quiet:
        os.environ["BONITO_QUIET"] = "1"
    os.environ["BONITO_LAUNCHED"] = "1"  # the script leaves saying an interrupt to this process
    try:
        launch_command(launch_command_parser().parse_args(launch_args + [script] + argv))
    except subprocess.CalledProcessError as exc:  # the script said why, in one line, on stderr
        if exc.returncode in (130, -2):
            raise KeyboardInterrupt(training.kept(training_args.output_dir)) from None
        return exc.returncode or 1
    except KeyboardInterrupt:
        raise KeyboardInterrupt(training.kept(training_args.output_dir)) from None
    except SystemExit as exc:  # accelerate's way of saying its child was interrupted (130) or failed
        if exc.code == 130:
            raise KeyboardInterrupt(training.kept(training_args.output_dir)) from None
        return int(exc.code or 0)
    return 0


def said(error: BonitoError) -> str:
    """A recipe error in this script's words: `key=value` advice as the flag that sets it."""
    text = re.sub(r"`([A-Za-z_][A-Za-z0-9_]*)=([^`]*)`", lambda m: f"--{m.group(1)} {m.group(2)}", str(error))
    return re.sub(r"`([^`]+)`", r"\1", text)


def cli() -> None:
    import warnings

    progress = os.environ.get("BONITO_NO_PROGRESS") != "1"  # `bonito train --no-progress`
    quiet = os.environ.get("BONITO_QUIET") == "1"  # `bonito train -q`
    console.configure(verbosity=-1 if quiet else 0, progress=False if quiet else None if progress else False)
    if quiet:
        import transformers

        transformers.logging.set_verbosity_error()
        warnings.simplefilter("ignore")
    argv = sys.argv[1:]
    try:
        main(*parse(argv), progress=progress and not quiet)
    except BonitoError as exc:
        print(f"sft.py: error: {said(exc)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if os.environ.get("BONITO_LAUNCHED") != "1":  # run by hand: say it here; else `bonito train` does
            print(f"sft.py: interrupted; {training.kept(_output_dir(argv))}", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if not disk_full(exc):
            raise
        print(f"sft.py: error: no space left on device; {training.kept(_output_dir(argv))}", file=sys.stderr)
        sys.exit(2)


def _output_dir(argv: list[str]) -> str:
    try:
        return parse(argv)[1].output_dir
    except BaseException:
        return "the output folder"


if __name__ == "__main__":
    cli()
