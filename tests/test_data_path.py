"""fit gathers batches into reused buffers: it never copies the data set (issue #3)."""

import tracemalloc

import numpy as np
import pytest

import dendrite as dd
from dendrite.layers import Dense
from dendrite.models.data import Batches


def _model(features):
    model = dd.Sequential([Dense(16, activation="relu", input_shape=(features,)),
                           Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("layout", ["contiguous", "column_slice"])
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_fit_epoch_allocates_far_less_than_the_data_set(dtype, layout):
    rng = np.random.default_rng(0)
    x = (rng.random((20000, 784)) * 255).astype(dtype)  # 62.7 MB as float32, 15.7 MB as uint8
    if layout == "column_slice":  # a non-contiguous view, e.g. image halves: numpy's take copied
        x = np.concatenate([x, x], axis=1)[:, :784]  # the whole source on every batch
    y = rng.integers(0, 10, 20000)
    model = _model(784)
    model.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0)  # build and warm up
    tracemalloc.start()
    model.fit(x, y, batch_size=128, epochs=2, verbose=0, shuffle=True, validation_split=0.1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < x.nbytes / 8, f"peak {peak / 2**20:.1f} MiB for a {x.nbytes / 2**20:.1f} MiB set"


def test_batches_reuse_one_buffer_per_batch_size():
    x = np.arange(50, dtype=np.uint8).reshape(10, 5)
    batches = Batches([x], ["float32"], batch_size=4, rng=np.random.default_rng(0))
    buffers, copies = [], []
    for _ in range(2):
        for (batch,) in batches:
            buffers.append(batch)
            copies.append(batch.copy())
    assert [b.shape[0] for b in buffers] == [4, 4, 2] * 2
    assert buffers[0] is buffers[1] is buffers[3]  # one buffer for every full batch, refilled
    assert buffers[2] is buffers[5]
    assert all(b.dtype == np.float32 for b in buffers)
    for epoch in (copies[:3], copies[3:]):  # each epoch sees every row exactly once
        rows = np.concatenate(epoch)
        assert sorted(rows[:, 0].tolist()) == x[:, 0].astype(np.float32).tolist()


def test_unshuffled_batches_of_the_right_dtype_are_views():
    x = np.arange(40, dtype=np.float32).reshape(8, 5)
    batch = next(iter(Batches([x], ["float32"], batch_size=4)))[0]
    assert np.shares_memory(batch, x)
