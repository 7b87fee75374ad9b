"""`bonito ctga build`: the CTGA training set for task generators (bonito_hub.ctga.build)."""

from __future__ import annotations

from bonito_hub.commands.base import Command
from bonito_hub.options import values_from


class Ctga(Command):
    name = "ctga"
    help = "build the CTGA training set for task generators"

    def options(self) -> list[type]:
        from bonito_hub.ctga import BuildArgs, CtgaConfig

        return [BuildArgs, CtgaConfig]

    def register(self, subparsers, common):
        self.parser = subparsers.add_parser(self.name, help=self.help, description=self.help)
        sub = self.parser.add_subparsers(dest="ctga_command", required=True)
        sub.add_parser("build", parents=[common], help="render P3 sources with meta-templates into a CTGA folder",
                       dataclass_types=self.options())
        return self.parser

    def run(self, args) -> int:
        from bonito_hub.ctga import CtgaConfig, build_ctga

        config = CtgaConfig(name="all", **values_from(args, CtgaConfig))
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
