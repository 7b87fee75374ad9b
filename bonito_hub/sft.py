"""Supervised fine-tuning for Bonito from a YAML recipe: the script recipes/sft.py runs, and the
training step of `bonito adapt`. It reads like TRL's own SFT script: load, prepare, train, save.

    accelerate launch recipes/sft.py --config recipes/generator/bonito-v1-mistral-7b.yaml
    python -m bonito_hub.sft --config recipes/smoke/student.yaml --max_steps 5

Any recipe key can be overridden on the command line (--learning_rate 2e-4). What each objective
trains on, and every decision about the data, lives in bonito_hub.training.
"""

import sys
import time
import warnings

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config

from bonito_hub import console, training
from bonito_hub.errors import BonitoError


def main(script_args: training.RecipeConfig, training_args: SFTConfig, model_args: ModelConfig) -> SFTTrainer:
    started = time.time()
    training.apply_global_batch(script_args, training_args)
    training.check_model(model_args, training_args)
    push = training.plan_push(script_args, training_args, model_args)
    tokenizer = training.load_tokenizer(model_args)
    data = training.prepare_data(script_args, training_args, tokenizer)
    training.configure_trainer(training_args, model_args, data.objective, data.train)
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.evaluation,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    training.save(trainer, tokenizer, script_args, training_args, model_args, data, result, started, push)
    return trainer


def parse(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = TrlParser((training.RecipeConfig, SFTConfig, ModelConfig))
    script_args, training_args, model_args = training.parse_recipe(parser, argv)
    if "--config" in argv:
        script_args.recipe = argv[argv.index("--config") + 1]
    return script_args, training_args, model_args


def cli() -> None:
    # The recipes say gradient_checkpointing, which every transformers 5.x reads; its new name,
    # activation_checkpointing, exists only from 5.18 (above our floor), so the rename notice is noise.
    warnings.filterwarnings("ignore", message="`gradient_checkpointing` is deprecated", category=FutureWarning)
    console.configure()
    try:
        main(*parse())
    except BonitoError as exc:
        print(f"sft.py: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    cli()
