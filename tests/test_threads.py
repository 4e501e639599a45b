"""BLAS threads chosen by measurement (issue 13): the tuner's decisions on a simulated machine,
pinning, and that fit/predict give the process its thread count back."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import threads


class FakeLibrary:
    """A BLAS as threadpoolctl presents it: ``num_threads`` and ``set_num_threads``."""

    def __init__(self, num_threads):
        self.num_threads = num_threads

    def set_num_threads(self, n):
        self.num_threads = n


class FakeController:
    def __init__(self, num_threads):
        self.lib_controllers = [FakeLibrary(num_threads)]

    def info(self):
        return [{"internal_api": "fake", "num_threads": self.lib_controllers[0].num_threads}]


class Machine:
    """A simulated clock: each step costs ``costs[load][threads]`` seconds."""

    def __init__(self, blas, costs):
        self.blas, self.costs, self.now, self.load = blas, costs, 0.0, "idle"
        self.step_threads = []

    def clock(self):
        return self.now

    def run(self, tuner, steps):
        for _ in tuner.iterate(range(steps)):
            threads_now = self.blas.lib_controllers[0].num_threads
            self.step_threads.append(threads_now)
            self.now += self.costs[self.load][threads_now]


# seconds per step: 2 threads are faster on an idle machine, 50x slower when both cores are busy
COSTS = {"idle": {1: 1.6, 2: 1.0}, "busy": {1: 2.4, 2: 50.0}}


@pytest.fixture
def machine(monkeypatch):
    blas = FakeController(2)
    monkeypatch.setattr(threads, "_blas", lambda: blas)
    monkeypatch.setattr(threads, "_pinned", None)
    monkeypatch.setattr(threads, "FIRST_RECHECK_SECONDS", 1e9)  # periodic rechecks: own test
    return Machine(blas, COSTS)


def test_idle_machine_chooses_all_threads(machine):
    tuner = threads.StepTuner(clock=machine.clock)
    machine.run(tuner, 30)
    # warm-up and trial at 1 thread, trial at 2, then 2 threads to the end
    assert machine.step_threads[:7] == [1, 1, 1, 1, 2, 2, 2]
    assert set(machine.step_threads[7:]) == {2}
    assert tuner.threads == 2 and tuner.trials == 1
    assert machine.blas.lib_controllers[0].num_threads == 2  # given back


def test_busy_machine_chooses_one_thread_after_one_slow_step(machine):
    machine.load = "busy"
    tuner = threads.StepTuner(clock=machine.clock)
    machine.run(tuner, 469)  # an MNIST epoch at batch 128
    assert machine.step_threads.count(2) == 1  # the 2-thread candidate is dropped after 1 step
    assert tuner.threads == 1
    # the epoch costs at most 3x what it costs on the idle machine with its best choice
    assert machine.now <= 3 * 469 * COSTS["idle"][2]


def test_tuner_follows_the_load(machine):
    tuner = threads.StepTuner(clock=machine.clock)
    machine.run(tuner, 20)
    assert tuner.threads == 2
    machine.load = "busy"
    machine.run(tuner, 20)
    assert tuner.threads == 1 and tuner.trials == 2
    slow = [t for t in machine.step_threads[20:]].count(2)
    assert slow <= threads.RECENT + 2  # the drift is noticed within a few steps
    machine.load = "idle"
    machine.run(tuner, 20)
    assert tuner.threads == 2 and tuner.trials == 3


def test_slower_steps_on_one_thread_start_no_trial(machine):
    """On one thread a busier machine cannot be answered with fewer threads: no (costly) trial."""
    machine.load = "busy"
    tuner = threads.StepTuner(clock=machine.clock)
    machine.run(tuner, 20)
    assert tuner.threads == 1 and tuner.trials == 1
    machine.costs = {"busier": {1: 6.0, 2: 80.0}}
    machine.load = "busier"
    machine.run(tuner, 200)
    assert tuner.trials == 1 and machine.step_threads.count(2) == 1


def test_periodic_recheck_backs_off(machine, monkeypatch):
    monkeypatch.setattr(threads, "FIRST_RECHECK_SECONDS", 10.0)
    tuner = threads.StepTuner(clock=machine.clock)
    machine.run(tuner, 400)  # 400 s of steady idle steps: rechecks at 10, 20, 40, 80, 160 s
    assert 4 <= tuner.trials <= 7
    assert machine.step_threads.count(1) <= 4 * tuner.trials


def test_pinned_threads_are_used_throughout(machine):
    threads.set_num_threads(1)
    tuner = threads.StepTuner(clock=machine.clock)
    machine.run(tuner, 20)
    assert set(machine.step_threads) == {1} and tuner.trials == 0
    assert machine.blas.lib_controllers[0].num_threads == 2


def test_abandoned_loop_restores_threads(machine):
    tuner = threads.StepTuner(clock=machine.clock)
    for step in tuner.iterate(range(10)):
        if step == 1:
            break
    assert machine.blas.lib_controllers[0].num_threads == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=r"set_num_threads: n must be a positive integer or None"):
        dd.config.set_num_threads(bad)


def test_config_pins_and_unpins():
    try:
        dd.config.set_num_threads(1)
        assert dd.config.get_num_threads() == 1
    finally:
        dd.config.set_num_threads(None)
    assert dd.config.get_num_threads() is None


def test_fit_and_predict_give_the_blas_threads_back():
    info = threads.blas_info()
    if not info:
        pytest.skip("no BLAS that threadpoolctl controls")
    before = [lib["num_threads"] for lib in info]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype("float32")
    y = rng.integers(0, 3, 64)
    model = dd.Sequential([dd.Input(shape=(8,)), dd.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    try:
        dd.config.set_num_threads(1)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert [lib["num_threads"] for lib in threads.blas_info()] == before
    finally:
        dd.config.set_num_threads(None)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_split=0.25)
    assert model.predict(x, verbose=0).shape == (64, 3)
    assert [lib["num_threads"] for lib in threads.blas_info()] == before


def test_cli_threads_option(tmp_path, monkeypatch):
    from dendrite import cli

    assert cli.parse_args(["train"]).threads is None
    args = cli.parse_args(["train", "--model", "logistic", "--epochs", "1", "--limit", "200",
                           "--no-plot", "--verbose", "0", "--threads", "1",
                           "--out", str(tmp_path)])
    assert args.threads == 1
    monkeypatch.setattr(threads, "_pinned", None)  # restored after the test
    cli.train(args, print_fn=lambda *a: None)
    assert dd.config.get_num_threads() == 1
    with pytest.raises(SystemExit):
        cli.parse_args(["train", "--threads", "0"])
