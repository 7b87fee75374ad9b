"""`bonito`: the command line. Each sub-command parses its arguments, calls the library, reports."""

from __future__ import annotations

import argparse
import sys


def _add_ctga(sub) -> None:
    ctga = sub.add_parser("ctga", help="build the CTGA training set for task generators")
    ctga_sub = ctga.add_subparsers(dest="ctga_command", required=True)
    b = ctga_sub.add_parser("build", help="render P3 sources with meta-templates into a CTGA folder")
    b.add_argument("--output", required=True, help="folder to write (Parquet shards and README.md card)")
    b.add_argument("--sources-dir", help="read sources from SRC/<name>/<split>.jsonl|.parquet instead of the Hub")
    b.add_argument("--registry", help="a sources.yaml to use instead of dataset_builders/ctga/sources.yaml")
    b.add_argument("--promptsource-dir", help="folder with promptsource's templates or its sdist (default: fetch with pip)")
    b.add_argument("--skip-missing", action="store_true", help="build without sources that fail to load (listed in the card)")
    b.add_argument("--max-per-source", type=int, default=100_000, help="rows sampled per source (default: 100000)")
    b.add_argument("--task-types", nargs="+", metavar="TYPE", help="only these task types (short or full names)")
    b.add_argument("--seed", type=int, default=42)
    b.add_argument("--num-proc", type=int, default=1, help="processes rendering rows")
    b.add_argument("--validation-fraction", type=float, default=0.01, help="share of each source's sample held out")
    b.add_argument("--no-truncate", dest="truncate", action="store_false",
                   help="keep whole fields (CTGA-v1 cut them at 2,048 characters)")
    b.add_argument("--overwrite", action="store_true", help="replace a folder that holds another build")


def _ctga_build(args) -> int:
    from bonito_hub.ctga.build import BuildOptions, build

    options = BuildOptions(
        output=args.output, sources_dir=args.sources_dir, registry=args.registry,
        promptsource_dir=args.promptsource_dir, skip_missing=args.skip_missing,
        max_per_source=args.max_per_source, task_types=args.task_types, seed=args.seed,
        num_proc=args.num_proc, validation_fraction=args.validation_fraction, truncate=args.truncate,
        overwrite=args.overwrite,
    )
    record = build(options)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bonito", description="Bonito task generation on the Hugging Face stack")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_ctga(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bonito_hub.ctga.build import BuildError
    from bonito_hub.ctga.promptsource import PromptsourceError
    from bonito_hub.ctga.sources import SourceError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "ctga" and args.ctga_command == "build":
            return _ctga_build(args)
    except (BuildError, SourceError, PromptsourceError, ValueError, FileNotFoundError) as exc:
        print(f"bonito: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bonito: interrupted; nothing was published", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
