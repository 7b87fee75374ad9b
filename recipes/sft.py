"""Supervised fine-tuning for Bonito: the generator on CTGA, the student on generated tasks,
and the next-word-prediction baseline, each from a YAML recipe.

    accelerate launch recipes/sft.py --config recipes/generator/bonito-v1-mistral-7b.yaml
    python recipes/sft.py --config recipes/smoke/student.yaml --max_steps 5

Any recipe key can be overridden on the command line (--learning_rate 2e-4).
"""

import sys
import time

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config, get_quantization_config

from bonito_hub import training


def main(script_args: training.RecipeArguments, training_args: SFTConfig, model_args: ModelConfig) -> SFTTrainer:
    from transformers import AutoTokenizer

    started = time.time()
    training.apply_global_batch(script_args, training_args)
    training.check_model(model_args, training_args)
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    splits = training.load_training_data(script_args)
    objective = training.detect_objective(splits["train"].column_names, script_args)
    train = training.prepare_dataset(splits["train"], objective, tokenizer, script_args, training_args.max_length)
    evaluation = None
    if training_args.eval_strategy != "no" and script_args.dataset_test_split in splits:
        evaluation = training.prepare_dataset(splits[script_args.dataset_test_split], objective, tokenizer,
                                              script_args, training_args.max_length)
    if objective == "dapt":
        training_args.dataset_text_field = "text"
    if training_args.padding_free and not training_args.packing:
        if "input_ids" in train.column_names:
            # already tokenised and cut to max_length above; TRL wants max_length unset with padding-free
            training_args.max_length = None
        else:
            trainer_note = "padding-free batches need pre-tokenised data here; using padded batches"
            print(f"sft.py: {trainer_note} ({objective})", file=sys.stderr)
            training_args.padding_free = False

    training_args.model_init_kwargs = {"revision": model_args.model_revision, "dtype": model_args.dtype,
                                       "attn_implementation": model_args.attn_implementation,
                                       **(training_args.model_init_kwargs or {})}
    quantization = get_quantization_config(model_args)
    if quantization is not None:
        training_args.model_init_kwargs["quantization_config"] = quantization
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the loss history, beside the adapter
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(training_args.output_dir)
        metrics = dict(result.metrics)
        if evaluation is not None:
            metrics.update(trainer.evaluate())
        training.write_record(training_args.output_dir, script_args, training_args, model_args, objective, train,
                              metrics, started)
        if script_args.merge and model_args.use_peft:
            merged = trainer.model.merge_and_unload()
            merged.save_pretrained(f"{training_args.output_dir}/merged")
            tokenizer.save_pretrained(f"{training_args.output_dir}/merged")
        trainer.accelerator.print(f"saved to {training_args.output_dir} ({objective}, {len(train)} examples)")
    return trainer


def parse(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = TrlParser((training.RecipeArguments, SFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(argv)
    if "--config" in argv:
        script_args.recipe = argv[argv.index("--config") + 1]
    return script_args, training_args, model_args


if __name__ == "__main__":
    try:
        main(*parse())
    except training.RecipeError as exc:
        print(f"sft.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
