"""Training scalars for TensorBoard (`--tensorboard DIR`): the records of a run's log, written as event files.

The trainers hand each log record to a callback (the character model's `on_log`, the classifier's `on_epoch`);
this writes the same figures as scalars: train and validation loss, bits per character or accuracy, the learning
rate, and characters or examples per second. Optional: it needs the `tensorboard` package
(`pip install 'charrnn-studio[tensorboard]'`).
"""
from __future__ import annotations

import math
import os
from typing import Any

MISSING = "--tensorboard needs the tensorboard package: pip install 'charrnn-studio[tensorboard]'"


class TensorBoardMissing(ImportError):
    """The optional tensorboard package is not installed."""


class TensorBoardLog:
    """Event files in `folder` holding a run's scalars, one record at a time; close() when the run ends."""

    def __init__(self, folder: str | os.PathLike):
        try:
            # optional dependency, imported only when --tensorboard is given (torch's writer needs tensorboard)
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TensorBoardMissing(MISSING) from None
        self.writer = SummaryWriter(log_dir=str(folder))

    def _scalar(self, tag: str, value: Any, step: int) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self.writer.add_scalar(tag, float(value), step)

    def lm_record(self, record: dict) -> None:
        """One record of a character model's log (charrnn.lm.run.RunLog): train or validation figures."""
        step = record.get("step")
        if not isinstance(step, int):
            return
        if "train_loss" in record:
            self._scalar("loss/train", record["train_loss"], step)
            self._scalar("bpc/train", record["train_loss"] / math.log(2), step)
            self._scalar("lr", record.get("lr"), step)
            self._scalar("chars_per_second", record.get("chars_per_second"), step)  # since the previous record
        if "val_loss" in record:
            self._scalar("loss/val", record["val_loss"], step)
            self._scalar("bpc/val", record.get("val_bpc"), step)
        self.writer.flush()

    def epoch_record(self, record: dict) -> None:
        """One epoch of a classifier's training (charrnn.sentiment.train's history records)."""
        epoch = record.get("epoch")
        if not isinstance(epoch, int):
            return
        self._scalar("loss/train", record.get("train_loss"), epoch)
        self._scalar("accuracy/val", record.get("val_accuracy"), epoch)
        self._scalar("lr", record.get("lr"), epoch)
        self._scalar("examples_per_second", record.get("examples_per_second"), epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_log(folder: str | os.PathLike | None) -> TensorBoardLog | None:
    """A TensorBoardLog for `folder`, or None without one; TensorBoardMissing (before any training) when the
    package is not installed."""
    return TensorBoardLog(folder) if folder else None
