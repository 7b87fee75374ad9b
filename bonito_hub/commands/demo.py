"""`bonito demo`: the whole loop offline on tiny models (bonito_hub.demo.run_demo)."""

from __future__ import annotations

from bonito_hub.commands.base import Command


class Demo(Command):
    name = "demo"
    help = "the whole loop offline on a CPU with tiny models (about fifteen seconds)"
    interrupted = "what was finished is in the output folder; the same command starts the demo again from the start"
    after_os_error = "run the same command again once the disk has room"

    def add_arguments(self, d) -> None:
        d.add_argument("--output", default="bonito-demo", help="folder to write (default: ./bonito-demo)")

    def run(self, args) -> int:
        from bonito_hub.adapt import summary_table
        from bonito_hub.demo import REAL_RUN, run_demo

        record = run_demo(args.output, progress=not args.no_progress)
        print("bonito demo: the whole loop ran on tiny models built just now. They are random and tiny, so the tasks "
              "they write and the scores below mean nothing; the demo shows the machinery, not quality.")
        print(summary_table({"summary": record["adapt"]}))
        print("steps: " + ", ".join(f"{k} {v} s" for k, v in record["steps"].items()) + f"; total {record['seconds']} s")
        print("artifacts:")
        width = max(len(item["path"]) for item in record["artifacts"])
        for item in record["artifacts"]:
            print(f"  {item['path']:<{width}} {item['about']}{'' if item['exists'] else ' (MISSING)'}")
        print()
        print(REAL_RUN)
        return 0 if all(item["exists"] for item in record["artifacts"]) else 1
