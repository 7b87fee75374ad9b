"""`bonito tasks`: the 16 task types, short and full names."""

from __future__ import annotations

from bonito_hub.commands.base import Command


class Tasks(Command):
    name = "tasks"
    help = "list the 16 task types, short and full names"

    def run(self, args) -> int:
        from bonito_hub import tasks

        for short in tasks.short_names():
            print(f"{short:<14} {tasks.full_name(short)}")
        return 0
