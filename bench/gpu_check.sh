#!/usr/bin/env bash
# GPU verification of issue 15, in one short run (about 3-6 minutes on an H200; budget 8).
#
# Needs, in the active Python environment: CuPy for CUDA 12 (`pip install cupy-cuda12x`, installed
# beforehand: the GPU machine has no network), PyTorch with CUDA for the benchmark, and an NVIDIA
# GPU. Steps:
#   1. the backend-parametrized tests, whose "cupy" cases run only here (layers, losses, fused
#      kernels, optimizers, a fit step; the device policy and the host-guard tests alongside);
#   2. a smoke run with DENDRITE_BACKEND=cupy: weights, flat buffers, optimizer state and dropout
#      streams on the device, fit/evaluate/predict, predict returning NumPy;
#   3. bench/gpu_bench.py: dendrite-CuPy vs PyTorch CUDA (MLP at 32/128/512, convnet at 128).
# Results go to ${OUT:-/tmp/gpu_check} (pytest log, bench table and JSON).
set -u
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
python -c "import cupy; print('cupy', cupy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())" \
    || { echo "gpu_check: CuPy is missing or sees no GPU (pip install cupy-cuda12x)"; exit 2; }
status=0

echo "== 1. backend-parametrized tests (cupy cases included)"
timeout 240 python -m pytest tests/test_backend_parity.py tests/test_backend_policy.py \
    tests/test_host_guard.py -q -p no:randomly -rs 2>&1 | tee "$out/pytest.txt" | tail -25 \
    || status=1

echo "== 2. smoke: DENDRITE_BACKEND=cupy fit/evaluate/predict"
DENDRITE_BACKEND=cupy timeout 120 python - <<'PY' 2>&1 | tee "$out/smoke.txt" || status=1
import cupy
import numpy as np
import dendrite as dd
from dendrite import layers

assert dd.config.backend() == "cupy"
rng = np.random.default_rng(0)
x, y = rng.random((512, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 512)
model = dd.Sequential([layers.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"),
                       layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
                       layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_split=0.25)
assert all(isinstance(v.value, cupy.ndarray) for v in model.weights)
assert isinstance(model._flat.values, cupy.ndarray) and isinstance(model._flat.grads, cupy.ndarray)
assert isinstance(model.optimizer.m, cupy.ndarray) and isinstance(model.optimizer.v, cupy.ndarray)
predicted = model.predict(x[:10], verbose=0)
assert type(predicted) is np.ndarray and predicted.shape == (10, 10)
print("history", {k: [round(v, 4) for v in vs] for k, vs in history.history.items()})
print("evaluate", model.evaluate(x, y, verbose=0))
print("smoke ok")
PY

echo "== 3. benchmark"
timeout 300 python bench/gpu_bench.py --json "$out/gpu_bench.json" 2>&1 | tee "$out/gpu_bench.txt" \
    || status=1
exit $status
