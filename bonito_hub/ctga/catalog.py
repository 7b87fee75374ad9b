"""The task-type table: which promptsource templates become meta-templates, and of which type.

Two tables ship with the package:
  bonito-hub  data/ctga/task_types.yaml, ours: every template judged one by one (default);
  ctga-v1     data/ctga/ctga_v1_task_types.csv, the table CTGA-v1 was built from, as
              released with the paper (BatsResearch/nayak-aclfindings24-code,
              ctga/bonito_prompts_task_types.csv at commit 034b2728d444b03f3e5d23dff10bf244d3bca2a8):
              323 templates named by source and template name, with full task-type names.
A path to a YAML file in our table's format is a third choice.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from bonito_hub import resources, tasks
from bonito_hub.ctga.promptsource import Template
from bonito_hub.errors import ConfigError


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


TASK_TABLES = {"bonito-hub": "ctga/task_types.yaml", "ctga-v1": "ctga/ctga_v1_task_types.csv"}
CTGA_V1_SOURCE = ("BatsResearch/nayak-aclfindings24-code, ctga/bonito_prompts_task_types.csv "
                  "@ 034b2728d444b03f3e5d23dff10bf244d3bca2a8")
NOT_IN_CTGA_V1 = "not in CTGA-v1's table"


def load_table(table: str | os.PathLike | None = None, templates: dict[str, list[Template]] | None = None
               ) -> dict[str, list[dict]]:
    """The table as {source: [{id, name, task_type | exclude}]}. `templates` is needed for ctga-v1,
    which names templates rather than giving their ids."""
    table = str(table or "bonito-hub")
    if table == "ctga-v1":
        if templates is None:
            raise ValueError("the ctga-v1 table needs promptsource's templates to resolve template names")
        return ctga_v1_table(templates)
    if table in TASK_TABLES:
        return yaml.safe_load(resources.read_text(TASK_TABLES[table]))
    if not Path(table).is_file():
        raise ConfigError(f"task table {table!r}: no such file; use {', '.join(TASK_TABLES)} or a YAML file")
    return yaml.safe_load(Path(table).read_text(encoding="utf-8"))


def ctga_v1_rows() -> dict[tuple[str, str], str]:
    """(source name, template name) -> short task type, from CTGA-v1's released table."""
    text = resources.read_text(TASK_TABLES["ctga-v1"])
    rows = {}
    for row in csv.DictReader(io.StringIO(text)):
        source = row["dataset_name"] + (f"/{row['dataset_config_name']}" if row["dataset_config_name"] else "")
        rows[(source, row["template_name"])] = tasks.normalize(row["task_type"])
    return rows


def ctga_v1_table(templates: dict[str, list[Template]]) -> dict[str, list[dict]]:
    """CTGA-v1's table in our format: its templates with its types, every other template excluded."""
    kept = ctga_v1_rows()
    table = {}
    for source, items in templates.items():
        table[source] = [{"id": t.id, "name": t.name, **({"task_type": kept[(source, t.name)]}
                                                            if (source, t.name) in kept else {"exclude": NOT_IN_CTGA_V1})}
                         for t in items]
    missing = sorted(f"{s}: {n}" for s, n in kept if s in templates and n not in {t.name for t in templates[s]})
    if missing:
        raise ConfigError(f"CTGA-v1's table names templates promptsource does not have: {'; '.join(missing)}")
    return table


def table_differences(ours: dict[str, list[dict]], other: dict[str, list[dict]]) -> dict[str, list[str]]:
    """How `other` differs from `ours`, template by template ("source: name"): kept with another
    type ("... (ours -> other)"), kept only by `other`, kept only by `ours`."""
    def kept(table):
        return {(s, e["name"]): e["task_type"] for s, entries in table.items() for e in entries if "task_type" in e}

    a, b = kept(ours), kept(other)
    return {
        "changed_type": [f"{s}: {n} ({a[(s, n)]} -> {b[(s, n)]})" for s, n in sorted(a.keys() & b.keys())
                         if a[(s, n)] != b[(s, n)]],
        "only_in_this_table": [f"{s}: {n} ({b[(s, n)]})" for s, n in sorted(b.keys() - a.keys())],
        "only_in_ours": [f"{s}: {n} ({a[(s, n)]})" for s, n in sorted(a.keys() - b.keys())],
    }


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


def build_catalog(templates: dict[str, list[Template]], source_names, table=None) -> Catalog:
    table = load_table(table, templates)
    problems = check_coverage(table, templates, source_names)
    if problems:
        raise ConfigError("task-type table is inconsistent with promptsource:\n  " + "\n  ".join(problems))
    assigned, excluded = {}, {}
    for source in source_names:
        by_id = {t.id: t for t in templates[source]}
        assigned[source] = [Assigned(by_id[e["id"]], e["task_type"]) for e in table[source] if "task_type" in e]
        excluded[source] = {e["id"]: e["exclude"] for e in table[source] if "exclude" in e}
    return Catalog(assigned, excluded)
