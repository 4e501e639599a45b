"""One training epoch of LSTM(128) and GRU(128) reading MNIST row by row: dendrite vs PyTorch CPU.

Each image is 28 timesteps of 28 pixels; the model is the recurrent layer, then Dense(10) with
softmax cross-entropy, Adam (lr 1e-3), float32, shuffled batches of 128, same thread count for
both. PyTorch runs ``nn.LSTM`` / ``nn.GRU`` (its fused CPU kernels) in a plain loop. Every
(framework, cell) epoch runs in a fresh subprocess after a warm-up of a few batches; the rounds are
interleaved (dendrite, torch, dendrite, torch ...) so that load from other processes on the machine
hits both alike, and each figure is the best of ``--rounds``.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/rnn_mnist.py [--rounds 3]
        [--threads 2] [--cells lstm,gru] [--samples 60000]
"""

import argparse
import json
import os
import subprocess
import sys
import time

WARMUP_BATCHES = 5


def _load_mnist(samples):
    import dendrite as dd

    (x, y), _ = dd.datasets.mnist.load_data()
    x = x[:samples].astype("float32")
    x /= 255
    return x, y[:samples].astype("int64")


def run_dendrite(cell, x, y, batch_size):
    import dendrite as dd
    from dendrite import layers

    dd.utils.set_random_seed(0)
    recurrent = {"lstm": layers.LSTM, "gru": layers.GRU}[cell]
    model = dd.Sequential([dd.Input(shape=(28, 28)), recurrent(128),
                           layers.Dense(10, activation="softmax")])
    model.compile(optimizer=dd.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    warm = WARMUP_BATCHES * batch_size
    model.fit(x[:warm], y[:warm], batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
    return time.perf_counter() - start


def run_torch(cell, x, y, batch_size, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    recurrent = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](28, 128, batch_first=True)
    head = torch.nn.Linear(128, 10)
    optimizer = torch.optim.Adam([*recurrent.parameters(), *head.parameters()], lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def epoch(order):
        for i in range(0, len(order), batch_size):
            index = order[i:i + batch_size]
            outputs, _ = recurrent(xt[index])
            loss = torch.nn.functional.cross_entropy(head(outputs[:, -1]), yt[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    epoch(torch.arange(WARMUP_BATCHES * batch_size))
    start = time.perf_counter()
    epoch(torch.randperm(len(xt)))
    return time.perf_counter() - start


def worker(framework, cell, samples, batch_size, threads):
    x, y = _load_mnist(samples)
    if framework == "dendrite":
        seconds = run_dendrite(cell, x, y, batch_size)
    else:
        seconds = run_torch(cell, x, y, batch_size, threads)
    print(json.dumps({"seconds": seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "CELL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.samples, args.batch_size, args.threads)
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "OPENBLAS_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    cells = args.cells.split(",")
    print(f"MNIST rows (28 steps x 28 features), {args.samples} samples, batch {args.batch_size}, "
          f"Adam, float32, {args.threads} threads, {os.cpu_count()} cores; best of {args.rounds} "
          "interleaved rounds, one epoch each after a warm-up", flush=True)
    best = {}
    for round_index in range(args.rounds):
        for cell in cells:
            for framework in ("dendrite", "torch"):
                result = subprocess.run(
                    [sys.executable, __file__, "--worker", framework, cell, "--samples",
                     str(args.samples), "--batch-size", str(args.batch_size), "--threads",
                     str(args.threads)], check=False, env=env, capture_output=True, text=True)
                if result.returncode:
                    print(f"  round {round_index + 1}: {framework} {cell} failed:\n{result.stderr}",
                          flush=True)
                    continue
                seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
                key = (framework, cell)
                best[key] = min(best.get(key, float("inf")), seconds)
                print(f"  round {round_index + 1}: {framework:>8} {cell}: {seconds:.2f} s",
                      flush=True)
    print(f"{'cell':>6} {'dendrite s':>11} {'torch s':>9} {'ratio':>7}")
    for cell in cells:
        d, t = best.get(("dendrite", cell), float("nan")), best.get(("torch", cell), float("nan"))
        print(f"{cell:>6} {d:>11.2f} {t:>9.2f} {d / t:>7.2f}")


if __name__ == "__main__":
    main()
