"""Callbacks with Keras's hooks, ``History`` and the progress display.

A callback overrides any of the hooks below; ``fit``, ``evaluate`` and ``predict`` call them with
``logs`` dicts of floats (``loss``, metric names, ``val_`` + name at epoch end). A callback can stop
training by setting ``self.model.stop_training = True``.
"""

import shutil
import sys
import time

from dendrite.errors import (
    arg_error,
    check_bool,
    check_choice,
    check_number,
    non_negative_int,
    positive_number,
)


class Callback:
    """Base class: every hook does nothing."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


class CallbackList(Callback):
    """Calls each hook on every callback in order."""

    def __init__(self, callbacks=(), model=None, params=None):
        super().__init__()
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be Callback instances; got {callback!r}")
            if model is not None:
                callback.set_model(model)
            if params is not None:
                callback.set_params(params)

    def __getattribute__(self, name):
        if name.startswith("on_"):
            callbacks = object.__getattribute__(self, "callbacks")

            # on_epoch_*/on_*_batch_* take (index, logs), the others (logs); every callback
            # receives a dict, empty where there is nothing to log (as in Keras)
            indexed = name.split("_")[-2] in ("epoch", "batch")

            def call_all(*args, logs=None):
                index, rest = (args[:1], args[1:]) if indexed else ((), args)
                logs = rest[0] if rest and logs is None else logs
                logs = {} if logs is None else logs
                for callback in callbacks:
                    getattr(callback, name)(*index, logs)

            return call_all
        return object.__getattribute__(self, name)


class History(Callback):
    """Records the epoch-end logs: ``history[name]`` is the list of values, ``epoch`` the
    indices."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs):
    """``loss: 0.2913 - accuracy: 0.9174`` (Keras's progress-bar format)."""
    return " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())


class ProgbarLogger(Callback):
    """Shows training progress.

    verbose=1: on a terminal, a tqdm bar per epoch with the loss and metrics, then the elapsed
    time, ETA and rate; one line per epoch otherwise (so logs are not flooded). verbose=2: one line
    per epoch. The numbers are never cut off: the bar shrinks to make room for them, and at the
    end of an epoch whose loss and metrics (validation included) do not fit on one line with the
    bar, they go on the lines below it, wrapped to the terminal's width.

    Args:
        verbose: 1 or 2 (0 means no ProgbarLogger at all).
        stream: where to write. Default sys.stdout.
    """

    _BAR_FORMAT = "{desc} {n_fmt}/{total_fmt} |{bar}| {metrics}{elapsed}<{remaining}, {rate_fmt}"
    _MIN_BAR = 10

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = check_choice("ProgbarLogger", "verbose", verbose, (1, 2))
        self.stream = stream
        self._bar = None

    def _out(self):
        return self.stream or sys.stdout

    def _interactive(self):
        return self.verbose == 1 and getattr(self._out(), "isatty", lambda: False)()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._epoch = epoch
        epochs = self.params.get("epochs", 1)
        if self._interactive():
            self._columns = shutil.get_terminal_size((80, 24)).columns
            self._bar = _bar_class()(total=self.params.get("steps"),
                                     desc=f"Epoch {epoch + 1}/{epochs}", unit="batch",
                                     file=self._out(), leave=True, ncols=self._columns,
                                     bar_format=self._BAR_FORMAT)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            if logs and (batch % 10 == 0 or batch + 1 == self.params.get("steps")):
                self._bar.metrics = format_logs(logs) + " - "

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        steps = self.params.get("steps") or 0
        numbers = format_logs(logs or {})
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.metrics = numbers + " - " if numbers else ""
            # the line with the shortest useful bar; if it is too wide, the numbers move below
            shortest = bar.format_meter(**{**bar.format_dict, "ncols": None})
            wrapped = len(shortest) - 10 + self._MIN_BAR > self._columns
            if wrapped:
                bar.metrics = ""
            bar.close()
            if wrapped:
                lines = _wrap(list((logs or {}).items()), self._columns - 2)
                print("\n".join("  " + line for line in lines), file=self._out(), flush=True)
            return
        epochs = self.params.get("epochs", 1)
        per_step = f" - {1000 * seconds / steps:.0f}ms/step" if steps else ""
        print(f"Epoch {epoch + 1}/{epochs} - {steps}/{steps} - {seconds:.1f}s{per_step} - "
              f"{numbers}", file=self._out(), flush=True)


def _wrap(items, width):
    """``name: value`` items joined by " - " into lines of at most ``width`` characters."""
    lines, line = [], ""
    for key, value in items:
        item = f"{key}: {value:.4f}"
        if line and len(line) + 3 + len(item) > width:
            lines.append(line)
            line = item
        else:
            line = f"{line} - {item}" if line else item
    return [*lines, line] if line else lines


def _bar_class():
    """A tqdm bar whose format may name ``{metrics}`` (the text in its ``metrics`` attribute)."""
    from tqdm import tqdm

    class MetricsBar(tqdm):
        metrics = ""

        @property
        def format_dict(self):
            return {**super().format_dict, "metrics": self.metrics}

    return MetricsBar


_CLASSES = {"History": History, "ProgbarLogger": ProgbarLogger}


# ------------------------------------------------------------------ saving and control callbacks
# Keras 3's names, arguments and semantics; where dendrite is stricter (an unknown ``mode`` raises
# instead of warning), the docstring says so.

_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou", "r2", "top_k")


def _monitor_sign(owner, monitor, mode):
    """+1 when larger values of ``monitor`` are better, -1 when smaller ones are."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be one of 'auto', 'min', 'max'; got mode={mode!r}")
    if mode != "auto":
        return 1 if mode == "max" else -1
    name = monitor.removeprefix("val_")
    if name.endswith("loss") or "error" in name or "crossentropy" in name:
        return -1
    if any(key in name for key in _MAXIMIZED):
        return 1
    raise ValueError(f"{owner}: cannot tell whether {monitor!r} should go up or down; pass "
                     "mode='max' or mode='min'")


class _MonitorCallback(Callback):
    """Tracks the best value of one logged quantity (Keras's MonitorCallback)."""

    def __init__(self, monitor, mode, min_delta=0.0, baseline=None):
        super().__init__()
        self.monitor = monitor
        self.mode = mode
        self._sign = _monitor_sign(type(self).__name__, monitor, mode)
        self.min_delta = abs(check_number(type(self).__name__, "min_delta", min_delta))
        self.best = check_number(type(self).__name__, "baseline", baseline, allow_none=True)

    def _is_improvement(self, value, reference):
        """value beats reference by more than min_delta (any value beats None)."""
        if reference is None:
            return True
        return self._sign * (value - reference) > self.min_delta

    def _value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            import warnings

            warnings.warn(f"{type(self).__name__} is conditioned on {self.monitor!r}, which is "
                          f"not in the logs; available: {', '.join(logs or {})}", stacklevel=3)
        return value


class EarlyStopping(_MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: logged quantity. Default "val_loss".
        min_delta: smallest change that counts as an improvement. Default 0.
        patience: epochs without improvement before stopping. Default 0.
        verbose: 1 prints when it stops. Default 0.
        mode: "auto" (from the name: ``*loss`` down, accuracy up), "min" or "max". An unknown
            mode raises (Keras warns).
        baseline: training stops unless ``monitor`` beats it within ``patience`` epochs.
        restore_best_weights: at the end of training, put back the weights of the best epoch.
        start_from_epoch: epochs to wait before monitoring starts. Default 0.

    Example:
        >>> callback = EarlyStopping(monitor="loss", patience=2)
        >>> callback.patience
        2
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = non_negative_int("EarlyStopping", "patience", patience)
        self.verbose = non_negative_int("EarlyStopping", "verbose", verbose)
        self.baseline = check_number("EarlyStopping", "baseline", baseline, allow_none=True)
        self.restore_best_weights = check_bool("EarlyStopping", "restore_best_weights",
                                               restore_best_weights)
        self.start_from_epoch = non_negative_int("EarlyStopping", "start_from_epoch",
                                                 start_from_epoch)
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


def _check_save_freq(owner, save_freq):
    if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                 or save_freq < 1):
        raise ValueError(f"{owner}: save_freq must be 'epoch' or a positive integer (batches); got "
                         f"save_freq={save_freq!r}")
    return save_freq


class _BatchCounter:
    """Counts batches across epochs for ``save_freq=<int>`` (Keras's ``_should_save_on_batch``)."""

    def __init__(self, every):
        self.every, self.seen = every, 0

    def tick(self):
        self.seen += 1
        if self.seen >= self.every:
            self.seen = 0
            return True
        return False


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) during training.

    Args:
        filepath: path ending in ``.keras`` (or ``.weights.h5`` with ``save_weights_only``); may
            hold ``{epoch:02d}`` and any logged value, e.g.
            ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``.
        monitor: logged quantity for ``save_best_only``. Default "val_loss".
        verbose: 1 prints each save. Default 0.
        save_best_only: save only when ``monitor`` improves (the file then always holds the best).
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: "auto", "min" or "max" (see :class:`EarlyStopping`).
        save_freq: "epoch" or a number of batches. Default "epoch".
        initial_value_threshold: a value ``monitor`` must beat before the first save.

    Every save is atomic: an interrupted save leaves the previous file intact.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(monitor, mode, 0.0, check_number(
            "ModelCheckpoint", "initial_value_threshold", initial_value_threshold,
            allow_none=True))
        import os

        self.filepath = os.fspath(filepath)
        self.verbose = non_negative_int("ModelCheckpoint", "verbose", verbose)
        self.save_best_only = check_bool("ModelCheckpoint", "save_best_only", save_best_only)
        self.save_weights_only = check_bool("ModelCheckpoint", "save_weights_only",
                                            save_weights_only)
        self.save_freq = _check_save_freq("ModelCheckpoint", save_freq)
        suffix = ".weights.h5" if self.save_weights_only else ".keras"
        if not self.filepath.endswith(suffix):
            raise ValueError(f"ModelCheckpoint: with save_weights_only={self.save_weights_only} "
                             f"the filepath must end in {suffix}; got filepath={self.filepath!r}")
        self._counter = None if save_freq == "epoch" else _BatchCounter(save_freq)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter is not None and self._counter.tick():
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = dict(logs or {})
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=None if batch is None else batch + 1,
                                        **logs)
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {error}, which is "
                           f"not in the logs; available: {sorted(logs)}") from None
        if self.save_best_only:
            current = self._value(logs)
            if current is None or not self._is_improvement(current, self.best):
                if self.verbose and current is not None:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best}")
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {current}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        import os

        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


class BackupAndRestore(Callback):
    """Back up training so that a run killed part-way resumes where it stopped.

    At the end of every epoch (or every ``save_freq`` batches) it writes, atomically, the weights,
    the optimizer state and the random streams to ``backup_dir/latest.weights.h5`` and the epoch
    reached to ``backup_dir/training_metadata.json``. When ``fit`` starts and a backup exists, it
    loads it and training continues from that epoch (with the same data order and dropout masks,
    so the result equals an uninterrupted run). A run that ends normally deletes the backup.

    Args:
        backup_dir: folder for the backup files.
        save_freq: "epoch" or a number of batches. Default "epoch".
        double_checkpoint: also keep the previous backup (``.bkp``) and fall back to it if the
            latest cannot be read. Default False.
        delete_checkpoint: delete ``backup_dir`` when training ends normally. Default True.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        import os

        if not backup_dir:
            raise ValueError(f"BackupAndRestore: backup_dir must be a folder path; got "
                             f"backup_dir={backup_dir!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = _check_save_freq("BackupAndRestore", save_freq)
        self.double_checkpoint = check_bool("BackupAndRestore", "double_checkpoint",
                                            double_checkpoint)
        self.delete_checkpoint = check_bool("BackupAndRestore", "delete_checkpoint",
                                            delete_checkpoint)
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._counter = None if save_freq == "epoch" else _BatchCounter(save_freq)
        self._epoch = 0

    def on_train_begin(self, logs=None):
        import os

        if not self.model.built:
            raise ValueError("BackupAndRestore: build the model before fit() (give it an input "
                             "shape or call it on a batch)")
        try:
            self._restore(self._weights_path, self._metadata_path)
        except (OSError, ValueError):
            previous = self._weights_path + ".bkp"
            if not (self.double_checkpoint and os.path.exists(previous)):
                raise
            self._restore(previous, self._metadata_path + ".bkp")

    def _restore(self, weights_path, metadata_path):
        import json
        import os

        if not os.path.exists(weights_path):
            return
        self.model.load_weights(weights_path)
        if os.path.exists(metadata_path):
            from dendrite.saving.safety import parse_json

            with open(metadata_path, "rb") as handle:
                metadata = parse_json(handle.read(65536), "training metadata", metadata_path)
            epoch = metadata.get("epoch")
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise ValueError(f"{metadata_path}: epoch must be a non-negative integer; got "
                                 f"{json.dumps(epoch)}")
            self.model._initial_epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter is not None and self._counter.tick():
            self._backup(self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._backup(epoch + 1)

    def _backup(self, epoch):
        import json
        import os
        import shutil

        from dendrite.saving.atomic import atomic_write_bytes

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path in (self._weights_path, self._metadata_path):
                if os.path.exists(path):
                    shutil.copyfile(path, path + ".bkp")
        self.model.save_weights(self._weights_path, overwrite=True)
        atomic_write_bytes(self._metadata_path, json.dumps({"epoch": epoch}).encode())

    def on_train_end(self, logs=None):
        import os
        import shutil

        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)


class CSVLogger(Callback):
    """Write each epoch's logs as a CSV row (``epoch`` first, then the keys in sorted order).

    Args:
        filename: the CSV file.
        separator: column separator. Default ",".
        append: append to an existing file (no second header) instead of overwriting it.

    Each row is flushed at once, so the file is complete up to the last finished epoch.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        import os

        if not isinstance(separator, str) or len(separator) != 1:
            raise arg_error("CSVLogger", "separator", "a one-character string", separator)
        self.filename, self.sep = os.fspath(filename), separator
        self.append = check_bool("CSVLogger", "append", append)
        self.keys, self._file, self._writer = None, None, None

    def on_train_begin(self, logs=None):
        import os

        has_rows = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115 (open across epochs)
        self._header_written = has_rows
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        import csv

        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self.keys],
                                          delimiter=self.sep)
            if not self._header_written:
                self._writer.writeheader()
        row = {"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}}
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    new_lr = max(lr * factor, min_lr) after ``patience`` epochs without an improvement larger than
    ``min_delta``; then ``cooldown`` epochs pass before counting again. The current rate is logged
    as ``learning_rate``.

    Args:
        monitor: default "val_loss". factor: in (0, 1), default 0.1. patience: default 10.
        verbose: default 0. mode: "auto", "min", "max". min_delta: default 1e-4.
        cooldown: default 0. min_lr: lower bound, default 0.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        owner = "ReduceLROnPlateau"
        self.factor = check_number(owner, "factor", factor, low=0, high=1, low_open=True,
                                   high_open=True, expected="in (0, 1)")
        self.patience = non_negative_int(owner, "patience", patience)
        self.verbose = non_negative_int(owner, "verbose", verbose)
        self.cooldown = non_negative_int(owner, "cooldown", cooldown)
        self.min_lr = positive_number(owner, "min_lr", min_lr, allow_zero=True)
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if callable(optimizer._learning_rate):
            raise TypeError("ReduceLROnPlateau: the optimizer's learning rate is a schedule; "
                            "use a constant learning rate with this callback")
        if logs is not None:
            logs["learning_rate"] = optimizer.learning_rate
        current = self._value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = optimizer.learning_rate
                if old > self.min_lr:
                    optimizer.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                              f"{optimizer.learning_rate}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``.

    Args:
        schedule: a function of (epoch index from 0, current learning rate) returning a float.
        verbose: 1 prints each change. Default 0.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable; got {schedule!r}")
        self.schedule = schedule
        self.verbose = non_negative_int("LearningRateScheduler", "verbose", verbose)

    def on_epoch_begin(self, epoch, logs=None):
        import math

        optimizer = self.model.optimizer
        value = self.schedule(epoch, optimizer.learning_rate)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                math.isnan(value) or value <= 0:
            raise ValueError(f"LearningRateScheduler: schedule({epoch}, lr) must return a positive "
                             f"float; got {value!r}")
        optimizer.learning_rate = float(value)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {value}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class TerminateOnNaN(Callback):
    """Stop training when a batch's logged loss is NaN or infinite.

    ``fit`` already refuses to apply an update whose loss is not finite (it raises
    FloatingPointError); this callback stops at the first batch whose *reported* ``loss`` is not
    finite and lets ``fit`` return normally, as in Keras.
    """

    def on_train_batch_end(self, batch, logs=None):
        import math

        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Args (each optional, Keras's signatures): on_epoch_begin(epoch, logs), on_epoch_end(epoch,
    logs), on_train_begin(logs), on_train_end(logs), on_train_batch_begin(batch, logs),
    on_train_batch_end(batch, logs); ``**kwargs`` may give any other hook by its name.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end, **kwargs}
        for name, function in hooks.items():
            if not hasattr(Callback, name) or not name.startswith("on_"):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            if function is not None:
                if not callable(function):
                    raise TypeError(f"LambdaCallback: {name} must be callable; got {function!r}")
                setattr(self, name, function)


_CLASSES.update({cls.__name__: cls for cls in (
    EarlyStopping, ModelCheckpoint, BackupAndRestore, CSVLogger, ReduceLROnPlateau,
    LearningRateScheduler, TerminateOnNaN, LambdaCallback)})
