"""`bonito adapt`: generate, evaluate, train, evaluate, push as one resumable command
(bonito_hub.adapt.adapt)."""

from __future__ import annotations

from bonito_hub.commands.base import Command, config_from, key_values


class Adapt(Command):
    name = "adapt"
    help = "generate, train the student, evaluate before and after, push: one resumable command"
    interrupted = "the finished steps are kept; run the same command to resume"
    after_os_error = "the finished steps are kept; run the same command to resume"
    recipe_flag = "--recipe-arg"
    aliases = {"data": "target_data"}

    def add_arguments(self, a) -> None:
        from bonito_hub import tasks
        from bonito_hub.adapt import DEFAULT_HOLDOUT, DEFAULT_RECIPE, STEP_NAMES
        from bonito_hub.generate import BACKENDS, generation_presets

        a.add_argument("--corpus", required=True, help="your unannotated text (any input bonito generate reads)")
        a.add_argument("--task-type", metavar="TYPE[,TYPE...]",
                       help="task type, several joined by commas, or all-applicable: " + ", ".join(tasks.short_names()))
        a.add_argument("--task-mix", metavar="TYPE=SHARE,...",
                       help="instead of --task-type: one type a passage, drawn with these shares (they sum to 1)")
        a.add_argument("--generator", required=True, help="task generator (e.g. BatsResearch/bonito-v1)")
        a.add_argument("--student", required=True, help="the model to adapt: a local folder or a Hub id")
        a.add_argument("--output", required=True,
                       help="folder for the run; one subfolder a step; the same command resumes an interrupted run")
        a.add_argument("--target", help="also evaluate before and after on this labelled target (built-in name or "
                       "JSON Lines file), and count the n-grams the corpus shares with it")
        a.add_argument("--target-data", help="a built-in target's test split from a local file instead of the Hub")
        a.add_argument("--holdout", type=float, default=DEFAULT_HOLDOUT, metavar="SHARE",
                       help=f"share of the documents set aside before generation (default: {DEFAULT_HOLDOUT}; 0: "
                            "none): their tasks are evaluation sets the student is scored on before and after, "
                            "never training rows")
        a.add_argument("--exclude-overlap", action="store_true",
                       help="leave out corpus passages sharing a 13-word n-gram with --target before generation")
        a.add_argument("--recipe", default=DEFAULT_RECIPE,
                       help=f"student recipe: packaged name or YAML file (default: {DEFAULT_RECIPE}, the paper's "
                            "Q-LoRA)")
        a.add_argument("--recipe-arg", dest="recipe_args", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe key (repeatable), e.g. --recipe-arg max_steps=500")
        a.add_argument("--text-column", default="text", help="column holding the documents (default: text)")
        a.add_argument("--encoding", default="utf-8",
                       help="encoding of text corpora (default: utf-8; every byte must decode, e.g. latin-1)")
        a.add_argument("--skip-bad-files", action="store_true",
                       help="skip documents with no text to read, links out of the corpus folder and files that are "
                            "not regular ones, and count them, instead of stopping (as bonito generate does)")
        a.add_argument("--follow-links", action="store_true",
                       help="read files that links in the corpus folder point to outside it")
        a.add_argument("--preset", choices=list(generation_presets()), default="default",
                       help="generation preset (bonito generate)")
        a.add_argument("--backend", choices=BACKENDS, default="auto", help="generation engine")
        a.add_argument("--eval-limit", type=int, help="evaluate on the first N rows of each evaluation set only (a "
                       "quick look)")
        a.add_argument("--push", metavar="ORG/NAME", help="push the adapter to ORG/NAME and the generated set to "
                                                         "ORG/NAME-tasks, with cards (private unless --public)")
        a.add_argument("--public", action="store_true", help="with --push: create the repos public")
        a.add_argument("--dry-run", action="store_true", help="with --push: write the folders and cards, send nothing")
        a.add_argument("--base-model", metavar="HUB_ID",
                       help="with --push: the student's Hub id when --student is a folder")
        a.add_argument("--redo", choices=STEP_NAMES, metavar="STEP",
                       help="make this step (" + ", ".join(STEP_NAMES) + ") and every step after it again; a "
                            "finished step whose options changed is otherwise refused")

    def run(self, args) -> int:
        from bonito_hub.adapt import AdaptConfig, adapt, summary_table

        recipe_args = [arg for key, value in key_values(args.recipe_args, "--recipe-arg")
                       for arg in (f"--{key.lstrip('-')}", value)]
        record = adapt(config_from(AdaptConfig, args, recipe_args=recipe_args), args.output,
                       progress=not args.no_progress)
        print(summary_table(record))
        print(f"done: {args.output} (record in {args.output}/adapt.json)")
        return 0
