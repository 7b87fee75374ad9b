"""The task-type table: which promptsource templates become meta-templates, and of which type."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from bonito_hub import tasks
from bonito_hub.ctga.promptsource import Template
from bonito_hub.paths import ctga_file


@dataclass(frozen=True)
class Assigned:
    template: Template
    task_type: str  # short name


@dataclass(frozen=True)
class Catalog:
    assigned: dict[str, list[Assigned]]  # source name -> its meta-templates
    excluded: dict[str, dict[str, str]]  # source name -> template id -> reason

    def for_task_types(self, task_types: list[str] | None) -> dict[str, list[Assigned]]:
        if not task_types:
            return {s: a for s, a in self.assigned.items() if a}
        wanted = set(task_types)
        selected = {s: [a for a in items if a.task_type in wanted] for s, items in self.assigned.items()}
        return {s: a for s, a in selected.items() if a}


def load_table(path: str | os.PathLike | None = None) -> dict[str, list[dict]]:
    path = Path(path) if path else ctga_file("task_types.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def check_coverage(table: dict[str, list[dict]], templates: dict[str, list[Template]], sources) -> list[str]:
    """Problems with the table: each template of each source must appear exactly once, with
    either a valid task type or a reason. An empty list means the table is complete."""
    problems = []
    valid = set(tasks.short_names())
    for source in sources:
        entries = table.get(source)
        if entries is None:
            problems.append(f"{source}: not in the task-type table")
            continue
        ids = [e.get("id") for e in entries]
        have = {t.id for t in templates.get(source, [])}
        for tid in sorted(have - set(ids)):
            problems.append(f"{source}: template {tid} is not in the table")
        for tid in sorted(set(ids) - have):
            problems.append(f"{source}: table names template {tid}, which promptsource does not have")
        for tid in {i for i in ids if ids.count(i) > 1}:
            problems.append(f"{source}: template {tid} is listed more than once")
        for e in entries:
            has_type, has_reason = "task_type" in e, bool(e.get("exclude"))
            if has_type == has_reason:
                problems.append(f"{source}: template {e.get('id')} needs exactly one of task_type or exclude")
            elif has_type and e["task_type"] not in valid:
                problems.append(f"{source}: template {e.get('id')} has unknown task type {e['task_type']!r}")
    return problems


def build_catalog(templates: dict[str, list[Template]], source_names, table_path=None) -> Catalog:
    table = load_table(table_path)
    problems = check_coverage(table, templates, source_names)
    if problems:
        raise ValueError("task-type table is inconsistent with promptsource:\n  " + "\n  ".join(problems))
    assigned, excluded = {}, {}
    for source in source_names:
        by_id = {t.id: t for t in templates[source]}
        assigned[source] = [Assigned(by_id[e["id"]], e["task_type"]) for e in table[source] if "task_type" in e]
        excluded[source] = {e["id"]: e["exclude"] for e in table[source] if "exclude" in e}
    return Catalog(assigned, excluded)
