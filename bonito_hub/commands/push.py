"""`bonito push dataset|adapter|ctga`: a folder to the Hub with its card, by the push of the stage that
wrote it (bonito_hub.generate.push_dataset, bonito_hub.training.push_adapter, bonito_hub.ctga.push_ctga)."""

from __future__ import annotations

from bonito_hub.commands.base import Command
from bonito_hub.commands.generate import say_pushed


class Push(Command):
    name = "push"
    help = "publish a generated data set, an adapter or a CTGA build to the Hub, with its card"
    interrupted = "nothing was committed to the Hub; run the same command again"
    after_os_error = "nothing was committed to the Hub; run the same command again"

    def register(self, subparsers, common):
        self.parser = subparsers.add_parser(self.name, help=self.help, description=self.help)
        kinds = self.parser.add_subparsers(dest="push_kind", required=True)
        about = {"dataset": "a `bonito generate` output folder", "adapter": "an adapter folder from recipes/sft.py",
                 "ctga": "a `bonito ctga build` output folder"}
        for kind, what in about.items():
            k = kinds.add_parser(kind, parents=[common], help=f"push {what}")
            k.add_argument("folder", help=what)
            k.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub (created if missing)")
            k.add_argument("--public", action="store_true", help="create the repo public (default: private)")
            k.add_argument("--dry-run", action="store_true",
                           help="print the files and the card that would be uploaded; send nothing")
            k.add_argument("--keep", metavar="DIR",
                           help="with --dry-run: also write the exact folder that would be uploaded to DIR (a new "
                                "folder)")
            if kind == "dataset":
                from bonito_hub.cards import LicenseOptions
                from bonito_hub.commands.parser import add_options

                add_options(k, LicenseOptions)
                k.add_argument("--include-examples", action="store_true",
                               help="quote three generated rows in the card (by default the card quotes no text)")
                k.add_argument("--generator", metavar="HUB_ID",
                               help="the task generator's Hub id for the card (a generator loaded from a folder is "
                                    "otherwise named by the folder's name only)")
                k.add_argument("--language", nargs="+", metavar="CODE", help="the card's language(s), e.g. en (default: those detected in the "
                                    "prompted documents, from funnel.json)")
            if kind == "adapter":
                k.add_argument("--base-model", metavar="HUB_ID",
                               help="the base model's Hub id, needed when training loaded it from a local folder")
                k.add_argument("--scores", metavar="SCORES_JSON",
                               help="`bonito evaluate --adapter` output (its scores.json): the card reports it and "
                                    "carries it as the model-index")
                k.add_argument("--baseline-scores", metavar="SCORES_JSON",
                               help="the same target's scores.json for the base model alone, shown beside --scores")
                k.add_argument("--index-limited", action="store_true",
                               help="put scores of an evaluation on the first rows only (--limit) in the model-index "
                                    "too (by default the card shows them, marked, and indexes none)")
        return self.parser

    def run(self, args) -> int:
        from bonito_hub.ctga import push_ctga
        from bonito_hub.generate import push_dataset
        from bonito_hub.training import push_adapter

        push = {"dataset": push_dataset, "adapter": push_adapter, "ctga": push_ctga}[args.push_kind]
        options = {name: getattr(args, name) for name in ("base_model", "include_examples", "generator", "language",
                                                           "scores", "baseline_scores", "index_limited",
                                                           "license", "license_name", "license_link") if hasattr(args, name)}
        upload = push(args.folder, args.repo_id, public=args.public, dry_run=args.dry_run, keep=args.keep, **options)
        if args.dry_run:
            kept = f"; the folder is in {args.keep}" if args.keep else ""
            print(f"dry run: {len(upload.files)} files would be pushed to {args.repo_id} "
                  f"({'public' if args.public else 'private'}); nothing was sent{kept}")
            for name in upload.files:
                print(f"  {name}")
            print("--- README.md ---")
            print(upload.card)
        else:
            say_pushed(upload, args.public)
        return 0
