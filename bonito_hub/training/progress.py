"""Training's progress without bars: when the command draws none (a log file, --no-progress, -q),
the Trainer's bar and its line-per-logging-step printer are replaced by a line in the `bonito`
log every so often (console.log_every_s) and at the end: step, of how many, the last loss, the
rate. -q hides those lines with every other info line."""

from __future__ import annotations

import time

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from bonito_hub.console import get_logger, log_every_s

log = get_logger(__name__)


class LogProgressCallback(TrainerCallback):
    def __init__(self):
        self.started = self.last = time.time()
        self.loss = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.loss = logs["loss"]
        if time.time() - self.last >= log_every_s():
            self._say(state)

    def on_train_end(self, args, state, control, **kwargs):
        self._say(state)

    def _say(self, state) -> None:
        self.last = time.time()
        elapsed = max(self.last - self.started, 1e-9)
        loss = f", loss {float(self.loss):.4f}" if self.loss is not None else ""
        log.info("train: step %d/%d%s, %.2f steps/s, %.0f s", state.global_step, state.max_steps, loss,
                 state.global_step / elapsed, elapsed)


def log_progress_instead_of_bars(trainer) -> None:
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(LogProgressCallback())
