"""Training speed on an NVIDIA GPU: dendrite on CuPy against PyTorch CUDA (issue 15).

Same model, same batch, data already on the device, one run each, float32, Adam (lr 1e-3),
softmax cross-entropy with integer labels, 60,000 training samples per epoch (random data in
MNIST's shapes: the timing does not depend on the values, and the GPU machine has no network):

- MLP 784-256-128-10 (relu, relu, softmax) at batches 32, 128 and 512;
- Keras's MNIST convnet (Conv2D(32, 3) relu, MaxPooling2D(2), Conv2D(64, 3) relu, MaxPooling2D(2),
  Flatten, Dropout(0.5), Dense(10) softmax) at batch 128. PyTorch runs NCHW, dendrite channels
  last.

dendrite's step is ``Model.train_on_batch_arrays`` on CuPy batches (the step ``fit`` runs after
moving a batch to the device: forward, fused loss gradient, backward, the NaN guard's one read of
the loss, the optimizer update); PyTorch's is the usual zero_grad / forward / loss / backward /
step loop. Each framework first runs ``--warmup`` steps (CuPy compiles its kernels then), then
one timed epoch, closed by a device synchronization.

Reference (issue 15, H100, PyTorch 2.11): MLP 3.34 s/epoch at 32, 0.80 s at 128, 0.23 s at 512;
convnet 1.08 s at 128. Targets: dendrite / PyTorch <= 1.0 for the MLP at 128 and 512, <= 1.5 for
the convnet.

Run (needs CuPy, PyTorch with CUDA and a GPU):
    python bench/gpu_bench.py [--warmup 20] [--json results.json]
"""

import argparse
import json
import math
import sys
import time

import numpy as np

SAMPLES = 60000
CONFIGS = [("mlp", 32), ("mlp", 128), ("mlp", 512), ("convnet", 128)]
TARGETS = {("mlp", 128): 1.0, ("mlp", 512): 1.0, ("convnet", 128): 1.5}


def _data(kind, cupy, torch):
    rng = np.random.default_rng(0)
    shape = (SAMPLES, 784) if kind == "mlp" else (SAMPLES, 28, 28, 1)
    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, SAMPLES)
    torch_x = torch.from_numpy(x if kind == "mlp" else x.transpose(0, 3, 1, 2).copy()).cuda()
    return (cupy.asarray(x), cupy.asarray(y)), (torch_x, torch.from_numpy(y).cuda())


def _dendrite_model(kind):
    import dendrite as dd
    from dendrite import layers

    dd.utils.set_random_seed(0)
    with dd.config.backend_scope("cupy"):
        if kind == "mlp":
            model = dd.Sequential([layers.Input((784,)), layers.Dense(256, activation="relu"),
                                   layers.Dense(128, activation="relu"),
                                   layers.Dense(10, activation="softmax")])
        else:
            model = dd.Sequential([layers.Input((28, 28, 1)),
                                   layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                                   layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                                   layers.Flatten(), layers.Dropout(0.5),
                                   layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model._training_setup()
    return model


def _torch_model(kind, torch):
    nn = torch.nn
    torch.manual_seed(0)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                              nn.Linear(128, 10))
    else:
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Dropout(0.5), nn.Linear(1600, 10))
    return model.cuda()


def _time_dendrite(kind, batch, data, warmup, cupy):
    model = _dendrite_model(kind)
    x, y = data
    steps = math.ceil(SAMPLES / batch)

    def step(i):
        start = (i % steps) * batch
        return model.train_on_batch_arrays([x[start:start + batch]], [y[start:start + batch]],
                                           None)

    for i in range(warmup):
        step(i)
    cupy.cuda.Device().synchronize()
    began = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    cupy.cuda.Device().synchronize()
    return time.perf_counter() - began, loss


def _time_torch(kind, batch, data, warmup, torch):
    model = _torch_model(kind, torch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = data
    steps = math.ceil(SAMPLES / batch)

    def step(i):
        start = (i % steps) * batch
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[start:start + batch]), y[start:start + batch])
        loss.backward()
        optimizer.step()
        return loss

    for i in range(warmup):
        step(i)
    torch.cuda.synchronize()
    began = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    torch.cuda.synchronize()
    return time.perf_counter() - began, float(loss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    try:
        import cupy
        import torch
    except ImportError as error:
        sys.exit(f"gpu_bench: needs CuPy (pip install cupy-cuda12x) and PyTorch: {error}")
    if not torch.cuda.is_available():
        sys.exit("gpu_bench: PyTorch sees no CUDA device")
    device = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    device = device.decode() if isinstance(device, bytes) else device
    print(f"device: {device}; CuPy {cupy.__version__}, PyTorch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}; {SAMPLES} samples per epoch, "
          f"{args.warmup} warm-up steps")
    print(f"{'model':<8} {'batch':>5} {'dendrite s':>11} {'torch s':>8} {'ratio':>6} "
          f"{'target':>6}  losses (last step)")
    rows = []
    for kind, batch in CONFIGS:
        dendrite_data, torch_data = _data(kind, cupy, torch)
        dendrite_s, dendrite_loss = _time_dendrite(kind, batch, dendrite_data, args.warmup, cupy)
        torch_s, torch_loss = _time_torch(kind, batch, torch_data, args.warmup, torch)
        ratio = dendrite_s / torch_s
        target = TARGETS.get((kind, batch))
        verdict = "" if target is None else ("met" if ratio <= target else "MISSED")
        print(f"{kind:<8} {batch:>5} {dendrite_s:>11.3f} {torch_s:>8.3f} {ratio:>6.2f} "
              f"{'' if target is None else f'<={target}':>6}  {verdict} "
              f"({float(dendrite_loss):.3f} / {torch_loss:.3f})", flush=True)
        rows.append({"model": kind, "batch": batch, "dendrite_s": dendrite_s, "torch_s": torch_s,
                     "ratio": ratio, "target": target, "device": device})
        del dendrite_data, torch_data
        cupy.get_default_memory_pool().free_all_blocks()
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
