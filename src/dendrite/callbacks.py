"""Callbacks with Keras's hooks, ``History`` and the progress display.

A callback overrides any of the hooks below; ``fit``, ``evaluate`` and ``predict`` call them with
``logs`` dicts of floats (``loss``, metric names, ``val_`` + name at epoch end). A callback can stop
training by setting ``self.model.stop_training = True``.
"""

import sys
import time


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

            def call_all(*args, **kwargs):
                for callback in callbacks:
                    getattr(callback, name)(*args, **kwargs)

            return call_all
        return object.__getattribute__(self, name)


class History(Callback):
    """Records the epoch-end logs: ``history[name]`` is the list of values, ``epoch`` the indices."""

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

    verbose=1: a tqdm bar per epoch with ETA, loss and metrics when the output is a terminal; one
    line per epoch otherwise (so logs are not flooded). verbose=2: one line per epoch.

    Args:
        verbose: 1 or 2 (0 means no ProgbarLogger at all).
        stream: where to write. Default sys.stdout.
    """

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
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
            from tqdm import tqdm

            self._bar = tqdm(total=self.params.get("steps"), desc=f"Epoch {epoch + 1}/{epochs}",
                             unit="batch", file=self._out(), leave=True, dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            if logs and (batch % 10 == 0 or batch + 1 == self.params.get("steps")):
                self._bar.set_postfix_str(format_logs(logs), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        steps = self.params.get("steps") or 0
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs or {}))
            self._bar.close()
            self._bar = None
            return
        epochs = self.params.get("epochs", 1)
        per_step = f" - {1000 * seconds / steps:.0f}ms/step" if steps else ""
        print(f"Epoch {epoch + 1}/{epochs} - {steps}/{steps} - {seconds:.1f}s{per_step} - "
              f"{format_logs(logs or {})}", file=self._out(), flush=True)


_CLASSES = {"History": History, "ProgbarLogger": ProgbarLogger}
