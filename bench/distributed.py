"""Data-parallel training over MPI (issue 16): samples per second on 1 and 2 ranks.

Each case runs ``mpirun -n R python bench/distributed.py --worker ...``: every rank pinned to one
BLAS thread (``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` = 1 and threadpoolctl), MNIST,
float32, SGD, the same *global* batch on 1 and 2 ranks. Timed: ``fit`` over ``--steps`` batches
after one warm-up epoch; the Allreduce share is the wall time inside the gradient ``Allreduce``
(waiting for the slower rank included) over the step time; "alone ms" is the median of 20
Allreduces of the same buffer started together after a barrier. Also printed: the parameter count
and the bytes each step all-reduces, and, from the measured single-rank step time, the network
bandwidth per rank a ring Allreduce (2 (N - 1) / N x model bytes per step) needs at 8, 64 and 512
ranks to stay below the compute time (README, "Scaling past one machine").

    python bench/distributed.py [--steps 40] [--batch 128] [--models mlp,convnet]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time


def build(name):
    import dendrite as dd
    from dendrite import layers

    if name == "mlp":  # the MNIST MLP of bench/mlp_mnist.py
        return dd.Sequential([dd.Input((784,)), layers.Dense(256, activation="relu"),
                              layers.Dense(128, activation="relu"),
                              layers.Dense(10, activation="softmax")])
    # Keras's MNIST convnet (bench/cnn_mnist.py) with BatchNormalization after each convolution
    return dd.Sequential([dd.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                          layers.BatchNormalization(), layers.MaxPooling2D(2),
                          layers.Conv2D(64, 3, activation="relu"), layers.BatchNormalization(),
                          layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
                          layers.Dense(10, activation="softmax")])


def worker(model_name, steps, batch):
    from threadpoolctl import threadpool_limits

    import dendrite as dd

    threadpool_limits(1)
    strategy = dd.distributed.MPIStrategy()
    (x, y), _ = dd.datasets.mnist.load_data()
    samples = steps * batch
    x = x[:samples].astype("float32") / 255
    x = x.reshape(samples, 784) if model_name == "mlp" else x[..., None]
    y = y[:samples]
    dd.utils.set_random_seed(0)
    model = build(model_name)
    model.compile(dd.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, strategy=strategy)  # warm-up
    strategy.allreduce_seconds = 0.0
    strategy.comm.Barrier()
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, strategy=strategy)
    seconds = time.perf_counter() - start
    grads, mpi = model._flat.grads, strategy._mpi
    raw = []
    for _ in range(20):  # the Allreduce alone, ranks started together
        strategy.comm.Barrier()
        begin = time.perf_counter()
        strategy.comm.Allreduce(mpi.IN_PLACE, grads)
        raw.append(time.perf_counter() - begin)
    if strategy.rank == 0:
        params = model.count_params()
        print(json.dumps({"model": model_name, "ranks": strategy.size, "seconds": seconds,
                          "samples_per_s": samples / seconds, "step_ms": 1e3 * seconds / steps,
                          "allreduce_ms": 1e3 * strategy.allreduce_seconds / steps,
                          "raw_allreduce_ms": 1e3 * sorted(raw)[len(raw) // 2],
                          "params": params, "bytes": model._flat.grads.nbytes}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--models", default="mlp,convnet")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.batch)
        return
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("bench/distributed.py needs mpirun (apt-get install openmpi-bin) and mpi4py")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    results = []
    for model in args.models.split(","):
        for ranks in (1, 2):
            command = [mpirun, "-n", str(ranks), "--oversubscribe", sys.executable, __file__,
                       "--worker", model, "--steps", str(args.steps), "--batch", str(args.batch)]
            out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"global batch {args.batch}, {args.steps} steps, 1 BLAS thread per rank, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{'model':8} {'params':>9} {'MB/step':>8} {'ranks':>5} {'samples/s':>10} "
          f"{'step ms':>8} {'Allreduce ms':>12} {'share':>6} {'alone ms':>8} {'speed-up':>8}")
    single = {}
    for r in results:
        single.setdefault(r["model"], r)
        speedup = r["samples_per_s"] / single[r["model"]]["samples_per_s"]
        print(f"{r['model']:8} {r['params']:9d} {r['bytes'] / 1e6:8.2f} {r['ranks']:5d} "
              f"{r['samples_per_s']:10.0f} {r['step_ms']:8.1f} {r['allreduce_ms']:12.2f} "
              f"{r['allreduce_ms'] / r['step_ms']:6.1%} {r['raw_allreduce_ms']:8.3f} "
              f"{speedup:8.2f}")
    print("\nRing Allreduce bandwidth per rank to stay below the single-rank step time "
          "(each rank keeping the global batch above as its own batch):")
    for model, r in single.items():
        seconds = r["step_ms"] / 1e3
        needs = ", ".join(f"{n} ranks: {2 * (n - 1) / n * r['bytes'] / seconds / 1e6:.1f} MB/s"
                          for n in (8, 64, 512))
        print(f"  {model}: {r['bytes'] / 1e6:.2f} MB per step in {r['step_ms']:.1f} ms -> {needs}")


if __name__ == "__main__":
    main()
