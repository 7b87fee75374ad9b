"""`bonito ctga build`: the CTGA training set for task generators (bonito_hub.ctga.build)."""

from __future__ import annotations

from bonito_hub.commands.base import Command, config_from


class Ctga(Command):
    name = "ctga"
    help = "build the CTGA training set for task generators"

    def register(self, subparsers, common):
        self.parser = subparsers.add_parser(self.name, help=self.help, description=self.help)
        sub = self.parser.add_subparsers(dest="ctga_command", required=True)
        b = sub.add_parser("build", parents=[common], help="render P3 sources with meta-templates into a CTGA folder")
        b.add_argument("--output", required=True, help="folder to write (Parquet shards and README.md card)")
        b.add_argument("--sources-dir", help="read sources from SRC/<name>/<split>.jsonl|.parquet instead of the Hub")
        b.add_argument("--registry", help="a sources.yaml to use instead of the packaged one "
                                          "(dataset_builders/ctga/sources.yaml)")
        b.add_argument("--promptsource-dir", help="folder with promptsource's templates or its sdist (default: fetch "
                                                  "with pip)")
        b.add_argument("--skip-missing", action="store_true", help="build without sources that fail to load (listed "
                                                                   "in the card)")
        b.add_argument("--max-per-source", type=int, default=100_000, help="rows sampled per source (default: 100000)")
        b.add_argument("--task-types", nargs="+", metavar="TYPE",
                       help="only these task types (short or full names; bonito tasks lists them)")
        b.add_argument("--seed", type=int, default=42, help="draws rows, templates and choices inside them (default: 42)")
        b.add_argument("--num-proc", type=int, default=1, help="processes rendering rows")
        b.add_argument("--validation-fraction", type=float, default=0.01, help="share of each source's sample held out")
        b.add_argument("--no-truncate", dest="truncate", action="store_false",
                       help="keep whole fields (CTGA-v1 cut them at 2,048 characters)")
        b.add_argument("--task-table", default="bonito-hub",
                       help="which templates, with which task types: bonito-hub (ours, default), ctga-v1 (exactly "
                            "CTGA-v1's, from the table released with the paper), or a YAML file in our table's format")
        b.add_argument("--overwrite", action="store_true", help="replace a folder that holds another build")
        return self.parser

    def run(self, args) -> int:
        from bonito_hub.ctga import CtgaConfig, build_ctga

        config = config_from(CtgaConfig, args, name="all")
        record = build_ctga(config, args.output, num_proc=args.num_proc, overwrite=args.overwrite)
        print(f"CTGA build {record['build_id']}: {record['rows']} rows in {record['seconds']} s -> {args.output}")
        for t, n in record["rows_per_task_type"].items():
            print(f"  {t:<14} train {n['train']:>9}  validation {n['validation']:>7}")
        dropped = sum(record["skipped_by_reason"].values())
        if dropped:
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(record["skipped_by_reason"].items()))
            print(f"  rows that gave no example: {dropped} ({reasons})")
        for name, why in record["skipped_sources"].items():
            print(f"  skipped source {name}: {why}")
        return 0
