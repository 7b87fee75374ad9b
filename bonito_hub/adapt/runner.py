"""Resumable steps over one folder: what `bonito adapt` walks, kept apart from what its steps do.

A `Step` writes its own subfolder and records, in the run's record (`record["steps"][name]`), its
status and the inputs that shaped it. `StepRunner.plan` decides for each step, in order:

    reuse   it finished (its record file is there and the run's record says "done") with the
            same inputs as now
    run     it never finished: it starts, or resumes what it left (its inputs are the same; an
            attempt made with other inputs is removed first)
    redo    `redo` names it or an earlier step, or an earlier step runs: it is made again

A finished step whose inputs changed is refused in one line naming the difference, unless `redo`
covers it; so the record always describes what is on disk. `StepRunner.execute` runs the plan,
saving the record before and after each step (a failed or interrupted one is marked "failed" and is
never reused).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bonito_hub import records
from bonito_hub.console import get_logger
from bonito_hub.errors import OutputError
from bonito_hub.folders import remove_folder

log = get_logger(__name__)


@dataclass(frozen=True)
class Step:
    """A step: its name, the folder it writes under the run, the record whose presence marks it
    done, the function that runs it, the inputs that shape it (both given the run), and whether a
    config wants it."""

    name: str
    folder: str
    record: str
    run: Callable[[Any], None]
    inputs: Callable[[Any], dict]
    wanted: Callable[[Any], bool] = lambda config: True


class StepRunner:
    """Walks `steps` over the folder `output`; `record` is the run's record (its "steps" entry is
    kept here) and `save` writes it. `order` names every step a run may have, in order (`redo` is one
    of them); `what` is how messages name the command (for `redo` and `output`)."""

    def __init__(self, output: str | Path, steps: list[Step], record: dict, save: Callable[[], None],
                 redo: str | None = None, order: tuple[str, ...] | None = None, what: str = "adapt"):
        self.output, self.steps, self.record, self.save = Path(output), steps, record, save
        self.order = tuple(order or [s.name for s in steps])
        self.redo, self.what = redo, what
        record.setdefault("steps", {})

    def finished(self, step: Step) -> bool:
        """The step ran to its end: its record is there and the run's record says so."""
        entry = self.record["steps"].get(step.name, {})
        return entry.get("status") == "done" and (self.output / step.folder / step.record).is_file()

    def plan(self, context) -> list[tuple[Step, dict, str]]:
        """Each step with its inputs and what to do ("reuse", "run" or "redo"); everything after a
        step that runs or is redone runs again too. Refuses a finished step whose inputs changed."""
        plan, downstream = [], False
        redo_from = self.order.index(self.redo) if self.redo else len(self.order)
        for step in self.steps:
            inputs = records.plain(step.inputs(context))
            if not self.finished(step):
                downstream = True
                plan.append((step, inputs, "run"))
                continue
            recorded = self.record["steps"][step.name].get("inputs")
            if downstream or self.order.index(step.name) >= redo_from:
                plan.append((step, inputs, "redo"))
                downstream = True
            elif recorded != inputs:
                raise OutputError(f"`output` {self.output}: its {step.name} step was made with "
                                  f"{difference(recorded or {}, inputs)}; pass `redo` {step.name} to make it and "
                                  "every step after it again, or choose another `output`", field="output")
            else:
                plan.append((step, inputs, "reuse"))
        return plan

    def execute(self, plan: list[tuple[Step, dict, str]], context) -> None:
        """Run `plan`'s steps, each given `context`, recording each one's status, inputs and seconds."""
        for step, inputs, action in plan:
            entry = self.record["steps"].setdefault(step.name, {})
            if action == "reuse":
                log.info("%s: %s is done (%s)", self.what, step.name, step.folder)
                continue
            if action == "redo":
                log.info("%s: %s is made again (%s)", self.what, step.name, step.folder)
                remove_folder(self.output / step.folder)
            elif entry.get("inputs") not in (None, inputs):  # an unfinished attempt with other inputs
                remove_folder(self.output / step.folder)
            log.info("%s: %s -> %s", self.what, step.name, step.folder)
            started = time.time()
            entry.clear()
            entry.update(status="running", inputs=inputs)
            self.save()
            try:
                step.run(context)
            except BaseException as exc:
                entry.update(status="failed", error=str(exc) or type(exc).__name__,
                             seconds=round(time.time() - started, 1))
                self.save()
                raise
            entry.update(status="done", seconds=round(time.time() - started, 1))
            self.save()


def difference(recorded: dict, now: dict) -> str:
    """What changed between two steps' inputs, in words."""
    said = [f"{k} {recorded.get(k)!r}, now {now.get(k)!r}" for k in dict.fromkeys([*recorded, *now])
            if recorded.get(k) != now.get(k)]
    return "; ".join(said) or "other inputs"
