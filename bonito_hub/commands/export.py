"""`bonito export OUT --to llamafactory|axolotl|sharegpt|alpaca --output DIR`: a generation in
another trainer's layout, with its config fragment (bonito_hub.generate.export)."""

from __future__ import annotations

from dataclasses import dataclass

from bonito_hub.commands.base import Command
from bonito_hub.options import option

TARGETS = ("llamafactory", "axolotl", "sharegpt", "alpaca")  # bonito_hub.generate.export.TARGETS, without its import


@dataclass(kw_only=True)
class ExportArgs:
    """What `bonito export` takes besides the run's folder."""

    to: str = option(choices=TARGETS, help="the layout: llamafactory (ShareGPT files and dataset_info.json), axolotl "
                                           "(messages files and an axolotl.yaml datasets block), sharegpt, alpaca")
    output: str = option(help="the folder to write (new or empty, or an earlier export, replaced)")
    name: str = option("bonito", help="the data set's name in dataset_info.json (LLaMA-Factory's `dataset:`); the "
                                      "test split is NAME_test")


class Export(Command):
    name = "export"
    help = "write a generated set in LLaMA-Factory's, Axolotl's, ShareGPT's or Alpaca's layout, with its config"
    interrupted = "the export is incomplete; run the same command again"
    after_os_error = "the export is incomplete; run the same command again"

    def options(self) -> list[type]:
        return [ExportArgs]

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", help="a finished `bonito generate` output folder")

    def run(self, args) -> int:
        from bonito_hub.generate import export

        record = export(args.folder, args.to, args.output, name=args.name)
        rows = ", ".join(f"{n} {'training' if s == 'train' else 'test (held-out)'} rows" for s, n in record["rows"].items())
        print(f"exported {rows} to {args.output} for {args.to}: {', '.join(record['files'] + record['fragments'])}, "
              "README.md")
        return 0
