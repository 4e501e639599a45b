"""One training epoch of the 784-256-128-10 MLP on MNIST: dendrite's fit vs a plain PyTorch loop.

Same model, Adam (lr 1e-3), float32, softmax cross-entropy, shuffled mini-batches, same thread
count. Each (framework, batch size) runs in a fresh subprocess so peak memory is measured cleanly
(peak RSS minus the RSS after loading the data: what training itself adds, framework state
included); timings are the median of several epochs after one warm-up epoch.

    python bench/mlp_mnist.py [--batch-sizes 32,128,512] [--epochs 3] [--threads 2]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _load_mnist():
    import dendrite as dd

    (x, y), _ = dd.datasets.mnist.load_data()
    x = x.reshape(-1, 784).astype("float32")
    x /= 255  # in place, so loading leaves no transient above what training holds
    return x, y.astype("int64")


def run_dendrite(x, y, batch_size, epochs):
    import dendrite as dd
    from dendrite.layers import Dense

    dd.utils.set_random_seed(0)
    model = dd.Sequential([Dense(256, activation="relu", input_shape=(784,)),
                           Dense(128, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer=dd.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
        times.append(time.perf_counter() - start)
    return times[1:]


def run_torch(x, y, batch_size, epochs, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    n = len(xt)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(n)
        for i in range(0, n, batch_size):
            index = order[i:i + batch_size]
            loss = torch.nn.functional.cross_entropy(model(xt[index]), yt[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times[1:]


def worker(framework, batch_size, epochs, threads):
    x, y = _load_mnist()
    import gc

    gc.collect()
    baseline = _current_rss_mb()
    if framework == "dendrite":
        times = run_dendrite(x, y, batch_size, epochs)
    else:
        times = run_torch(x, y, batch_size, epochs, threads)
    times.sort()
    print(json.dumps({"median": times[len(times) // 2], "min": times[0],
                      "peak_mb": _peak_rss_mb() - baseline}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="32,128,512")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after a warm-up")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.epochs, args.threads)
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "OPENBLAS_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    print(f"MLP 784-256-128-10, MNIST 60000, Adam, float32, {args.threads} threads, "
          f"{os.cpu_count()} cores; median of {args.epochs} epochs after a warm-up")
    print(f"{'batch':>6} {'dendrite s':>11} {'torch s':>9} {'ratio':>7} {'dendrite MB':>12} "
          f"{'torch MB':>9}")
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        results = {}
        for framework in ("dendrite", "torch"):
            out = subprocess.run([sys.executable, __file__, "--worker", framework, str(batch_size),
                                  "--epochs", str(args.epochs), "--threads", str(args.threads)],
                                 env=env, check=True, capture_output=True, text=True).stdout
            results[framework] = json.loads(out.strip().splitlines()[-1])
        d, t = results["dendrite"], results["torch"]
        print(f"{batch_size:>6} {d['median']:>11.3f} {t['median']:>9.3f} "
              f"{d['median'] / t['median']:>7.2f} {d['peak_mb']:>12.1f} {t['peak_mb']:>9.1f}",
              flush=True)


if __name__ == "__main__":
    main()
