"""BLAS threads chosen by measurement, so that training stays fast on a busy machine.

A multi-threaded BLAS (OpenBLAS, MKL) splits each matrix product across its threads, which wait
for one another by spinning. When other programs hold the cores, a thread that is not scheduled
makes its partners spin through their time slices: on a 2-core machine with two other CPU-bound
processes, an MLP epoch took 50x its idle time with 2 BLAS threads and 2.4x with 1.

:class:`StepTuner` therefore measures. ``fit`` and ``predict`` run their batches through
:meth:`StepTuner.iterate`, which times each step (fetching the batch included) and

1. after one warm-up step, runs a few steps with each candidate thread count (one thread, half
   of what BLAS had, all of it) and keeps the fastest; a candidate whose first step is far slower
   than the best so far is dropped after that one step, so a trial costs one slow step when the
   machine is busy (one thread comes first: it is never far from the best);
2. re-runs the trial, the current count first, when the step time drifts from what the trial
   measured in a direction another count could answer (slower steps with more than one thread:
   the machine got busier; faster steps with fewer than all: it got quieter), and otherwise
   every 10 s; each trial that confirms the choice doubles both waits (up to 1280 steps and
   10 min).

Threads are set with threadpoolctl (the process's BLAS libraries, nothing else) and given back
when the loop ends; environment variables are never touched. :func:`set_num_threads` pins a count
instead (``dendrite.config.set_num_threads``; ``dendrite train --threads N``).
"""

import time

from dendrite.errors import arg_error

_pinned = None
_controller = None

TRIAL_STEPS = 3
"""Steps timed per candidate thread count; the median decides."""
RECENT = 5
"""Steps in the running median compared with the trial's time for the chosen count."""
DRIFT = 1.3
"""A re-trial starts when that median leaves [reference / DRIFT, reference * DRIFT] (and the gap
since the last trial has passed) ..."""
HOPELESS = 3.0
"""... or at once when it exceeds reference * HOPELESS; and a trial drops a candidate whose step
takes HOPELESS times the best candidate's."""
FIRST_GAP_STEPS, LAST_GAP_STEPS = 20, 1280
"""Steps between drift-triggered trials: doubled each time a trial confirms the choice."""
FIRST_RECHECK_SECONDS, LAST_RECHECK_SECONDS = 10.0, 600.0
"""Seconds between periodic trials: doubled each time a trial confirms the choice."""


def _blas():
    """threadpoolctl's controller of the BLAS libraries loaded in this process (None without
    threadpoolctl or without a BLAS it knows)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # threadpoolctl is a dependency; a bare install still trains
            return None
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller if _controller.lib_controllers else None


def set_num_threads(n):
    """Pin the BLAS threads that ``fit``, ``evaluate`` and ``predict`` use to ``n``.

    Args:
        n: a positive int, or None to choose adaptively again (the default).
    """
    global _pinned
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise arg_error("set_num_threads", "n", "a positive integer or None", n)
    _pinned = n


def get_num_threads():
    """The pinned thread count, or None when threads are chosen adaptively."""
    return _pinned


def blas_info():
    """What threadpoolctl reports of each BLAS library: a list of dicts with ``internal_api``
    (e.g. "openblas"), ``version``, ``architecture`` (the kernel OpenBLAS chose, e.g.
    "SkylakeX"), ``num_threads`` and ``filepath``."""
    controller = _blas()
    return [] if controller is None else controller.info()


class StepTuner:
    """Chooses the BLAS thread count for a loop of similar steps (module docstring).

    Args:
        clock: the timer (seconds). Default ``time.perf_counter``.
        candidates: thread counts to try, in order, or None for (1, half, all) of what BLAS has.

    Attributes:
        threads: the count in use (None when there is no BLAS to control).
        trials: how many trials have run.
    """

    def __init__(self, clock=time.perf_counter, candidates=None):
        self._clock = clock
        self._controller = _blas()
        self.trials = 0
        if self._controller is None:
            self._original = self.threads = None
            return
        self._original = max(lib.num_threads for lib in self._controller.lib_controllers)
        if _pinned is not None:
            self._candidates = [_pinned]
        elif candidates is not None:
            self._candidates = list(dict.fromkeys(candidates))
        else:
            self._candidates = list(dict.fromkeys([1, max(self._original // 2, 1),
                                                   self._original]))
        self.threads = self._candidates[0]
        self._warm = False
        self._queue = []          # candidates still to try in the current trial
        self._times = {}          # candidate -> step times in the current trial
        self._recent = []
        self._choice = self._reference = self._next_recheck = None
        self._since_trial = 0
        self._gap, self._recheck_interval = FIRST_GAP_STEPS, FIRST_RECHECK_SECONDS

    def iterate(self, iterable):
        """Yield the items of ``iterable``, one step each, with the BLAS threads this tuner
        chooses; the original thread count is restored when the loop ends (or is abandoned)."""
        if self._controller is None:
            yield from iterable
            return
        self._apply(self.threads)
        try:
            start = self._clock()
            for item in iterable:
                yield item
                end = self._clock()
                self._step_done(end - start, end)
                start = self._clock()
        finally:
            self._apply(self._original)

    # ------------------------------------------------------------ the decision

    def _apply(self, threads):
        for lib in self._controller.lib_controllers:
            lib.set_num_threads(threads)

    def _start_trial(self):
        """Time each candidate in turn, the current count first (known not to be hopeless)."""
        self.trials += 1
        self._queue = [self.threads] + [n for n in self._candidates if n != self.threads]
        self._times = {}
        self._recent = []
        self._switch(self._queue.pop(0))

    def _switch(self, threads):
        self.threads = threads
        self._apply(threads)

    def _step_done(self, seconds, now):
        if len(self._candidates) == 1:
            return
        if not self._warm:  # the first step allocates buffers and warms caches: not a sample
            self._warm = True
            self._start_trial()
            return
        if self._times is not None:
            self._trial_step(seconds, now)
            return
        self._since_trial += 1
        self._recent = (self._recent + [seconds])[-RECENT:]
        if len(self._recent) == RECENT:
            ratio = _median(self._recent) / self._reference
            # slower steps can only call for fewer threads, faster ones for more: a drift that no
            # other candidate could answer starts no trial
            slower = ratio > DRIFT and self.threads > min(self._candidates)
            faster = ratio < 1 / DRIFT and self.threads < max(self._candidates)
            if (ratio > HOPELESS and slower) or (self._since_trial >= self._gap
                                                 and (slower or faster)):
                self._start_trial()
                return
        if now >= self._next_recheck:
            self._start_trial()

    def _trial_step(self, seconds, now):
        times = self._times.setdefault(self.threads, [])
        times.append(seconds)
        best = min((_median(t) for t in self._times.values() if len(t) == TRIAL_STEPS),
                   default=None)
        hopeless = best is not None and seconds > HOPELESS * best
        if len(times) < TRIAL_STEPS and not hopeless:
            return
        if self._queue:
            self._switch(self._queue.pop(0))
            return
        finished = {n: _median(t) for n, t in self._times.items() if len(t) == TRIAL_STEPS}
        choice = min(finished, key=finished.get)
        if choice == self._choice:  # confirmed: look again less often
            self._gap = min(self._gap * 2, LAST_GAP_STEPS)
            self._recheck_interval = min(self._recheck_interval * 2, LAST_RECHECK_SECONDS)
        else:
            self._gap, self._recheck_interval = FIRST_GAP_STEPS, FIRST_RECHECK_SECONDS
        self._choice = choice
        self._reference = finished[choice]
        self._times = None
        self._since_trial = 0
        self._next_recheck = now + self._recheck_interval
        self._switch(choice)


def _median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
