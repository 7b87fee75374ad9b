"""Where a command's time goes: seconds per stage, for run.json and the log.

A generation's stages (bonito_hub.generate):

    start       from the process's start to the generation's (interpreter, imports, parsing)
    read        reading the input, cutting it into chunks, checking the output folder
    load_model  loading the engine (torch and transformers or vLLM imported, weights read); it
                runs while the input is read, so these two overlap
    split       cutting documents into passages that fit the model
    generate    the engine's work
    filter      parsing and filtering the generations
    write       writing the chunks' files and the card
    total       from the process's start to the end
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

STAGES = ("start", "read", "load_model", "split", "generate", "filter", "write")


def process_started() -> float | None:
    """When this process started (seconds since the epoch), from /proc on Linux; None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return None


class StageTimer:
    """Seconds per stage, added up over the times a stage is entered."""

    def __init__(self, since_process_start: bool = True):
        now = time.time()
        started = process_started() if since_process_start else None
        self.started = started if started is not None and started <= now else now
        self.seconds: dict[str, float] = {}
        if now > self.started:
            self.seconds["start"] = now - self.started

    @contextmanager
    def stage(self, name: str):
        began = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - began)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def as_dict(self) -> dict[str, float]:
        """The stages in their order, then the total since the start, rounded to 0.01 s."""
        ordered = {name: round(self.seconds[name], 2) for name in STAGES if name in self.seconds}
        ordered.update({k: round(v, 2) for k, v in self.seconds.items() if k not in ordered})
        ordered["total"] = round(time.time() - self.started, 2)
        return ordered

    def summary(self) -> str:
        """One line: "start 2.1 s, read 0.4 s, ...; total 31.0 s"."""
        stages = self.as_dict()
        total = stages.pop("total")
        return ", ".join(f"{name.replace('_', ' ')} {s:.1f} s" for name, s in stages.items()) + f"; total {total:.1f} s"
