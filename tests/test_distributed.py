"""Data-parallel training over MPI (issue 16): 2 ranks under ``mpirun`` against 1 process.

Each case runs tests/distributed_scripts/train.py in a subprocess with a timeout (a hang fails
the test instead of blocking the suite): alone for the reference, and with
``mpirun -n 2 --oversubscribe``. Skipped when mpi4py or mpirun is missing.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dendrite.distributed.strategy import MPI_MISSING, shard_bounds

SCRIPT = Path(__file__).parent / "distributed_scripts" / "train.py"
MPIRUN = shutil.which("mpirun")
HAVE_MPI = MPIRUN is not None and importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpirun (pip install "
                               "'dendrite[mpi]'; apt-get install openmpi-bin libopenmpi-dev)")
TIMEOUT = 120


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # Open MPI refuses to start as root (CI runs as root) unless told; only the child's env
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    src = str(Path(__file__).parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _mpirun_prefix(ranks):
    version = subprocess.run([MPIRUN, "--version"], check=False, capture_output=True,
                             text=True).stdout
    extra = ["--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []
    return [MPIRUN, "-n", str(ranks), *extra]


def _run(out, *arguments, ranks=1, timeout=TIMEOUT):
    """Run the script (under mpirun when ranks > 1); returns (returncode, output, seconds)."""
    command = [sys.executable, str(SCRIPT), "--out", str(out), *map(str, arguments)]
    if ranks > 1:
        command = _mpirun_prefix(ranks) + command
    start = time.perf_counter()
    result = subprocess.run(command, check=False, capture_output=True, text=True,
                            timeout=timeout, env=_env())
    return result.returncode, result.stdout + result.stderr, time.perf_counter() - start


def _results(out, rank=0):
    with open(Path(out) / f"rank{rank}.json") as handle:
        logs = json.load(handle)
    with np.load(Path(out) / f"rank{rank}.npz", allow_pickle=False) as arrays:
        return logs, {key: arrays[key] for key in arrays.files}


def _train_both(tmp_path, *arguments):
    code, output, _ = _run(tmp_path / "one", *arguments)
    assert code == 0, output
    code, output, _ = _run(tmp_path / "two", *arguments, ranks=2)
    assert code == 0, output
    return _results(tmp_path / "one"), _results(tmp_path / "two", 0), _results(tmp_path / "two", 1)


# ------------------------------------------------------------------ without MPI


def test_shard_bounds_split_rows_contiguously_longest_first():
    assert [shard_bounds(7, r, 2) for r in range(2)] == [(0, 4), (4, 7)]
    assert [shard_bounds(10, r, 4) for r in range(4)] == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert [shard_bounds(2, r, 2) for r in range(2)] == [(0, 1), (1, 2)]


def test_strategy_without_mpi4py_names_the_extra_and_the_command(monkeypatch):
    from dendrite import distributed

    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    with pytest.raises(ImportError, match=r"pip install 'dendrite\[mpi\]'.*mpirun -n N python"):
        distributed.MPIStrategy()
    assert "openmpi-bin libopenmpi-dev" in MPI_MISSING


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_strategy_argument_is_checked(method):
    import dendrite as dd

    model = dd.Sequential([dd.Input((3,)), dd.layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    arguments = (x,) if method == "predict" else (x, y)
    with pytest.raises(ValueError, match=rf"{method}: strategy must be a "
                       r"dendrite.distributed.MPIStrategy or None; got strategy='mpi'"):
        getattr(model, method)(*arguments, verbose=0, strategy="mpi")


@needs_mpi
def test_weights_on_a_device_backend_are_refused_with_a_message():
    # one process (MPI singleton); host_guard stands in for a GPU backend
    code = ("import numpy as np, dendrite as dd\n"
            "from dendrite import testing_backends\n"
            "dd.config.set_backend('host_guard')\n"
            "model = dd.Sequential([dd.Input((3,)), dd.layers.Dense(2)])\n"
            "model.predict(np.ones((4, 3)), strategy=dd.distributed.MPIStrategy())\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=TIMEOUT, env=_env())
    assert result.returncode != 0
    assert ("NotImplementedError: MPIStrategy: Sequential(name='sequential') has its weights on "
            "host_guard; the strategy all-reduces NumPy arrays (the NCCL path for device buffers "
            "is not built yet)") in result.stderr, result.stderr


# ------------------------------------------------------------------ equivalence


@needs_mpi
@pytest.mark.parametrize("model", ["mlp", "convnet"])
@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("float64", 1e-10)])
def test_two_ranks_train_like_one_process(tmp_path, model, dtype, tolerance):
    # 20 steps of 32 samples, validation on 160 more; the convnet has BatchNormalization and
    # Dropout
    (one, one_w), (rank0, rank0_w), (rank1, rank1_w) = _train_both(
        tmp_path, "--model", model, "--dtype", dtype, "--samples", 800, "--batch", 32,
        "--validation-split", 0.2)
    assert len(rank0["hashes"]) == 20 and rank0["iterations"] == one["iterations"] == 20
    # identical weights on both ranks after every step
    assert rank0["hashes"] == rank1["hashes"]
    assert len(set(rank0["hashes"])) == 20  # the weights did change each step
    for key in one_w:
        assert one_w[key].dtype == rank0_w[key].dtype == np.dtype(dtype)
        np.testing.assert_allclose(rank0_w[key], one_w[key], rtol=0, atol=tolerance,
                                   err_msg=f"{model} {dtype} {key}")
        np.testing.assert_array_equal(rank0_w[key], rank1_w[key])
    # the loss and metrics are reduced over the global batch: the same on every rank
    assert rank0["history"] == rank1["history"] and rank0["evaluate"] == rank1["evaluate"]
    assert set(rank0["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(rank0["history"][key], one["history"][key],
                                   rtol=100 * tolerance)
    assert rank0["history"]["accuracy"] == one["history"]["accuracy"]
    assert rank0["history"]["val_accuracy"] == one["history"]["val_accuracy"]
    np.testing.assert_allclose(rank0["evaluate"]["loss"], one["evaluate"]["loss"],
                               rtol=100 * tolerance)


@needs_mpi
@pytest.mark.parametrize("model", ["mlp", "convnet"])
def test_uneven_global_batches_are_exact(tmp_path, model):
    # batch 33 splits 17/16 and the last batch of 13 (640 = 19 * 33 + 13) splits 7/6; each rank's
    # share of the gradient is already divided by the global batch, so nothing is re-weighted.
    # The MLP run uses dd.distributed.init() instead of strategy= and prints progress (verbose=2)
    extra = ["--init", "--verbose", 2] if model == "mlp" else []
    code, output, _ = _run(tmp_path / "one", "--model", model, "--dtype", "float64",
                           "--samples", 640, "--batch", 33, *extra)
    assert code == 0, output
    code, output, _ = _run(tmp_path / "two", "--model", model, "--dtype", "float64",
                           "--samples", 640, "--batch", 33, *extra, ranks=2)
    assert code == 0, output
    (_, one_w), (rank0, rank0_w) = _results(tmp_path / "one"), _results(tmp_path / "two")
    rank1, rank1_w = _results(tmp_path / "two", 1)
    assert rank0["rank_size"] == [0, 2] and rank1["rank_size"] == [1, 2]
    if extra:  # only rank 0 prints progress
        assert output.count("Epoch 1/1") == 1, output
    assert rank0["iterations"] == 20
    for key in one_w:
        np.testing.assert_allclose(rank0_w[key], one_w[key], rtol=0, atol=1e-10, err_msg=key)
        np.testing.assert_array_equal(rank0_w[key], rank1_w[key])
    # predict gathers 37 rows (batches of 8: the last one of 5 splits 3/2) on every rank
    assert rank0_w["predictions"].shape == (37, 10)
    np.testing.assert_array_equal(rank0_w["predictions"], rank1_w["predictions"])


@needs_mpi
def test_a_batch_smaller_than_the_ranks_is_refused_on_every_rank(tmp_path):
    # 628 = 19 * 33 + 1: the last batch has one sample for two ranks
    code, output, _ = _run(tmp_path, "--samples", 628, "--batch", 33, ranks=2)
    assert code != 0
    assert ("MPIStrategy: a training batch of 1 sample(s) cannot be split over 2 ranks"
            in output), output


@needs_mpi
def test_a_nan_in_one_ranks_rows_stops_every_rank_with_the_same_message(tmp_path):
    # the NaN sample reaches one rank's rows; the loss is computed on the gathered batch
    code, output, _ = _run(tmp_path, "--nan-sample", 5, ranks=2)
    assert code == 4, output  # both ranks caught FloatingPointError and exited
    messages = [(tmp_path / f"rank{rank}.error").read_text() for rank in (0, 1)]
    assert messages[0] == messages[1]
    assert re.fullmatch(r"Sequential\(name='\w+'\): the loss became nan at epoch 1, batch \d+; "
                        r"training stopped before applying that update\. .*", messages[0])


# ------------------------------------------------------------------ faults


@needs_mpi
def test_a_rank_that_raises_ends_every_rank_naming_itself(tmp_path):
    code, output, seconds = _run(tmp_path, "--fail", "raise", "--fail-rank", 1, ranks=2,
                                 timeout=60)
    assert code != 0
    assert ("dendrite.distributed: rank 1 of 2 failed with RuntimeError: injected failure at "
            "step 3; aborting all 2 ranks") in output, output
    assert seconds < 60
    assert not (tmp_path / "rank0.json").exists()  # rank 0 did not finish either


@needs_mpi
def test_a_killed_rank_ends_every_rank_naming_it(tmp_path):
    code, output, seconds = _run(tmp_path, "--fail", "kill", "--fail-rank", 1, ranks=2,
                                 timeout=60)
    assert code != 0
    assert "rank 1" in output and "signal 9" in output, output
    assert seconds < 60
    assert not (tmp_path / "rank0.json").exists()


@needs_mpi
@pytest.mark.parametrize("model", ["mlp", "convnet"])
def test_resume_from_backup_equals_an_uninterrupted_run(tmp_path, model):
    # Adam's slots, BatchNormalization's moving statistics and Dropout's generator all resume
    backup = tmp_path / "backup"
    arguments = ["--model", model, "--samples", 200, "--epochs", 3, "--optimizer", "adam"]
    code, output, _ = _run(tmp_path / "full", *arguments, ranks=2)
    assert code == 0, output
    code, output, _ = _run(tmp_path / "part", *arguments, "--backup", backup, "--stop-epoch", 2,
                           ranks=2)
    assert code != 0 and (backup / "latest.weights.h5").exists(), output
    code, output, _ = _run(tmp_path / "part", *arguments, "--backup", backup, ranks=2)
    assert code == 0, output
    (full, full_w), (part, part_w) = _results(tmp_path / "full"), _results(tmp_path / "part")
    _, part_w1 = _results(tmp_path / "part", 1)
    assert len(part["hashes"]) == 7  # only the third epoch ran again (200 / 32 -> 7 steps)
    assert part["hashes"] == full["hashes"][-7:]  # bitwise the same weights after each step
    assert part["iterations"] == full["iterations"] == 21
    for key in full_w:
        np.testing.assert_array_equal(part_w[key], full_w[key], err_msg=key)
        np.testing.assert_array_equal(part_w1[key], full_w[key], err_msg=key)
    assert not backup.exists()  # rank 0 deleted it at the end
