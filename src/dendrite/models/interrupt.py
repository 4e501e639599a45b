"""Ctrl-C during ``fit``: finish the current batch, then stop cleanly.

While :class:`DeferredInterrupt` is active (main thread only), a first SIGINT only sets
:attr:`requested`; ``fit`` checks it after each batch, so the model keeps the weights of the last
completed batch (never a half-applied update) and its history so far. A second Ctrl-C raises
KeyboardInterrupt at once. Either way the KeyboardInterrupt ends the ``with`` block quietly
(:attr:`interrupted` is set) and ``fit`` returns its history with a warning.
"""

import signal
import threading


class DeferredInterrupt:
    """Context manager: defer the first SIGINT until :meth:`check` is called."""

    def __init__(self):
        self.requested = False
        self.interrupted = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except ValueError:  # not the main interpreter
                self._previous = None
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self):
        """Raise KeyboardInterrupt if a Ctrl-C arrived since the last check."""
        if self.requested:
            self.requested = False
            raise KeyboardInterrupt

    def __exit__(self, kind, error, traceback):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.interrupted = True
            return True  # fit returns normally with what it has
        return False

    @staticmethod
    def report(model):
        import warnings

        epochs = len(model.history.epoch) if model.history is not None else 0
        warnings.warn(f"fit was interrupted (KeyboardInterrupt) after {epochs} complete epoch(s); "
                      "the model keeps the weights of the last completed batch and "
                      "model.history the epochs so far. on_train_end was not called.",
                      stacklevel=3)
