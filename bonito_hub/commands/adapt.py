"""`bonito adapt`: generate, evaluate, train, evaluate, push as one resumable command
(bonito_hub.adapt.adapt). Its options are adapt's own (AdaptArgs) and every generation option
(GenerationOptions' parts, as `bonito generate` takes them)."""

from __future__ import annotations

from bonito_hub.commands.base import Command


class Adapt(Command):
    name = "adapt"
    help = "generate, train the student, evaluate before and after, push: one resumable command"
    interrupted = "the finished steps are kept; run the same command to resume"
    after_os_error = "the finished steps are kept; run the same command to resume"
    recipe_flag = "--recipe-arg"
    aliases = {"data": "target_data", "input": "corpus", "model": "generator", "recipe_args": "recipe_overrides"}
    config_file = True

    @property
    def defaults(self) -> dict:
        from bonito_hub.generate import DEFAULT_HOLDOUT

        return {"holdout": DEFAULT_HOLDOUT}  # adapt scores the student on held-out documents unless told not to

    def options(self) -> list[type]:
        from bonito_hub.adapt import AdaptArgs, AdaptOutput
        from bonito_hub.generate import GenerationOptions

        return [AdaptArgs, AdaptOutput, *GenerationOptions.parts()]

    def run(self, args) -> int:
        from bonito_hub.adapt import AdaptArgs, AdaptConfig, adapt, plan, summary_table
        from bonito_hub.generate import GenerationOptions
        from bonito_hub.options import parts_from, values_from

        generation = GenerationOptions(**dict(zip(GenerationOptions.PARTS,
                                                  parts_from(args, *GenerationOptions.parts()))))
        config = AdaptConfig(**values_from(args, AdaptArgs), generation=generation)
        if config.plan or (config.dry_run and not config.push):
            print("\n".join(plan(config, args.output)))
            if config.dry_run and not config.plan:
                from bonito_hub.adapt import estimate_generation

                print("\n".join(estimate_generation(config, args.output)))
            return 0
        record = adapt(config, args.output, progress=not args.no_progress)
        print(summary_table(record))
        print(f"done: {args.output} (record in {args.output}/adapt.json)")
        return 0
