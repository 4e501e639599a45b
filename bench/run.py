"""Every benchmark of issue 13 in one command: dendrite against PyTorch (and Keras/TensorFlow).

Cases (MNIST, float32, Adam 1e-3, softmax cross-entropy, shuffled batches):

* ``mlp32``, ``mlp128``, ``mlp512``: the MLP 784-256-128-10, training, ms per batch;
* ``cnn128``: Keras's MNIST convnet (Conv 32, pool, Conv 64, pool, Flatten, Dropout, Dense),
  training, ms per batch;
* ``predict-mlp``, ``predict-cnn``: inference on the 10,000 test images in batches of 128
  (``model.predict``; PyTorch: a ``no_grad`` loop), ms per batch of 128;
* ``busy-mlp128``, ``busy-cnn128``: the training cases while two other CPU-bound processes run
  (started before the worker, stopped after it).

Each (framework, case) runs in a fresh process, the frameworks' rounds interleaved; the table
keeps the best of ``--rounds`` (3). Every framework gets the same thread count: PyTorch
``torch.set_num_threads(N)``, TensorFlow's intra-op and inter-op pools of N, and for all of them
``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` = N. dendrite chooses between
1 and N BLAS threads itself (:mod:`dendrite.threads`); that is the behaviour measured.

Also printed: achieved GFLOP/s (training counts 3x the forward products' FLOPs) against a
measured float32 matrix-product peak (2048^3, N threads), peak memory (growth of the peak RSS
after the data are loaded), the machine's load average, and the BLAS that ran (threadpoolctl).

Run it with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset in that command alone (some
machines set them for an old OpenBLAS issue; they slow a current NumPy and users do not have them):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench [--threads 2] [--rounds 3]
        [--cases mlp128,cnn128] [--keras-python /path/to/python-with-tensorflow]

Keras runs where TensorFlow imports: in this interpreter, or the one ``--keras-python`` names
(a separate virtual environment keeps TensorFlow's NumPy pin away from dendrite's).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "src" / "dendrite" / "datasets" / "data" / "mnist.npz"
CASES = ("mlp32", "mlp128", "mlp512", "cnn128", "predict-mlp", "predict-cnn", "busy-mlp128",
         "busy-cnn128")
FRAMEWORKS = ("dendrite", "torch", "keras")
PREDICT_BATCH = 128
# forward FLOPs per sample (2 per multiply-add of the products)
FORWARD_FLOPS = {
    "mlp": 2 * (784 * 256 + 256 * 128 + 128 * 10),
    "cnn": 2 * (26 * 26 * 9 * 32 + 11 * 11 * 288 * 64 + 1600 * 10),
}


def _case(case):
    """(model, batch size, kind) of a case name: kind is train, predict or busy."""
    kind = "predict" if case.startswith("predict") else "busy" if case.startswith("busy") else \
        "train"
    name = case.split("-")[-1]
    model = "cnn" if name.startswith("cnn") else "mlp"
    batch = PREDICT_BATCH if kind == "predict" else int(name[3:])
    return model, batch, kind


# ---------------------------------------------------------------------------- workers


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss():
    """Lower the peak RSS to the current RSS (Linux >= 4.0); returns whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        return False
    return True


def _load(model):
    """MNIST as float32 in [0, 1]: images (n, 784) or (n, 28, 28, 1), and int64 labels."""
    import numpy as np

    data = np.load(MNIST)
    shape = (-1, 784) if model == "mlp" else (-1, 28, 28, 1)
    x = data["x_train"].reshape(shape).astype("float32")
    x /= 255
    x_test = data["x_test"].reshape(shape).astype("float32")
    x_test /= 255
    return x, data["y_train"].astype("int64"), x_test


def _dendrite(model, x, y, x_test, batch, kind, warmup, steps):
    import dendrite

    return _keras_code(dendrite, model, x, y, x_test, batch, kind, warmup, steps)


def _keras_code(keras, model, x, y, x_test, batch, kind, warmup, steps):
    """The one benchmark program for both: Keras 3, or dendrite imported as ``keras``."""
    layers = keras.layers
    keras.utils.set_random_seed(0)
    if model == "mlp":
        net = keras.Sequential([keras.Input(shape=(784,)), layers.Dense(256, activation="relu"),
                                layers.Dense(128, activation="relu"),
                                layers.Dense(10, activation="softmax")])
    else:
        net = keras.Sequential([keras.Input(shape=(28, 28, 1)),
                                layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                                layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                                layers.Flatten(), layers.Dropout(0.5),
                                layers.Dense(10, activation="softmax")])
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    if kind == "predict":
        return _time_predict(lambda: net.predict(x_test, batch_size=batch, verbose=0))
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, step, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, step, logs=None):
            times.append(time.perf_counter() - self.start)

    count = (warmup + steps) * batch
    net.fit(x[:count], y[:count], batch_size=batch, verbose=0, callbacks=[Timer()])
    return times[warmup:]


def _torch(model, x, y, x_test, batch, kind, warmup, steps, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nn = torch.nn
    if model == "mlp":
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                            nn.Linear(128, 10))
    else:  # PyTorch's own layout: (batch, channels, height, width)
        x, x_test = x.reshape(-1, 1, 28, 28), x_test.reshape(-1, 1, 28, 28)
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                            nn.Linear(1600, 10))
    if kind == "predict":
        net.eval()
        xt = torch.from_numpy(x_test)
        out = torch.empty((len(xt), 10))

        def predict():
            with torch.no_grad():
                for i in range(0, len(xt), batch):
                    out[i:i + batch] = torch.softmax(net(xt[i:i + batch]), dim=1)

        return _time_predict(predict)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.randperm(len(xt))
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        index = order[step * batch:(step + 1) * batch]
        loss = nn.functional.cross_entropy(net(xt[index]), yt[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times[warmup:]


def _keras(model, x, y, x_test, batch, kind, warmup, steps, threads):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras

    return _keras_code(keras, model, x, y, x_test, batch, kind, warmup, steps)


def _time_predict(predict, repeats=3):
    """Seconds per batch of the best of ``repeats`` passes over the test set (after one more)."""
    predict()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict()
        best = min(best, time.perf_counter() - start)
    batches = -(-10000 // PREDICT_BATCH)
    return [best / batches]


def _matmul_peak(threads):
    """GFLOP/s of a float32 2048^3 matrix product (best of 5) with ``threads`` BLAS threads."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype("float32")
    with threadpool_limits(threads, user_api="blas"):
        a @ a
        best = min(_seconds(lambda: a @ a) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def _seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def worker(framework, case, args):
    if framework == "peak":
        from threadpoolctl import threadpool_info

        print(json.dumps({"gflops": _matmul_peak(args.threads), "blas": threadpool_info()}))
        return
    model, batch, kind = _case(case)
    x, y, x_test = _load(model)
    peak_reset = _reset_peak_rss()
    baseline = _peak_rss_mb()
    steps = args.steps if model == "mlp" else args.cnn_steps
    run = {"dendrite": _dendrite, "torch": _torch, "keras": _keras}[framework]
    extra = () if framework == "dendrite" else (args.threads,)
    times = run(model, x, y, x_test, batch, kind, args.warmup, steps, *extra)
    times.sort()
    result = {"mean": sum(times) / len(times), "median": times[len(times) // 2],
              "peak_mb": _peak_rss_mb() - baseline, "peak_reset": peak_reset}
    if framework == "dendrite":
        from threadpoolctl import threadpool_info

        result["blas"] = threadpool_info()
    print(json.dumps(result))


# ---------------------------------------------------------------------------- driver


def _keras_python(args):
    """The interpreter that runs Keras, or None when TensorFlow is not importable there."""
    python = args.keras_python or sys.executable
    probe = subprocess.run([python, "-c", "import tensorflow, keras"], capture_output=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False)
    return python if probe.returncode == 0 else None


def _busy_processes(count):
    """Start ``count`` CPU-bound processes (pure Python loops); returns them for stopping."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _run_worker(python, framework, case, args, env):
    command = [python, str(Path(__file__).resolve()), "--worker", framework, "--case", case,
               "--threads", str(args.threads), "--warmup", str(args.warmup),
               "--steps", str(args.steps), "--cnn-steps", str(args.cnn_steps)]
    helpers = _busy_processes(2) if case.startswith("busy") else []
    try:
        if helpers:
            time.sleep(1.0)  # let the helpers take their cores
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800,
                             check=False)
    finally:
        for helper in helpers:
            helper.kill()
            helper.wait()
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-3:]
        print(f"  {framework} {case} failed: {' | '.join(tail)}", flush=True)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load_average():
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _format_ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--warmup", type=int, default=10, help="batches before timing")
    parser.add_argument("--steps", type=int, default=200, help="timed MLP batches")
    parser.add_argument("--cnn-steps", type=int, default=40, help="timed convnet batches")
    parser.add_argument("--keras-python", help="a Python with TensorFlow and Keras")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", choices=(*FRAMEWORKS, "peak"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.case, args)
        return
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; valid: {list(CASES)}")
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    pythons = {"dendrite": sys.executable, "torch": sys.executable}
    if "keras" in args.frameworks.split(","):
        keras_python = _keras_python(args)
        if keras_python:
            pythons["keras"] = keras_python
        else:
            print("Keras/TensorFlow: not importable (pass --keras-python); column skipped")
    pythons = {f: p for f, p in pythons.items() if f in args.frameworks.split(",")}
    set_vars = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    if set_vars:
        print(f"warning: {', '.join(set_vars)} set; run under env -u ... as the docstring says")
    print(f"{os.cpu_count()} cores, {args.threads} threads, float32; best of {args.rounds} "
          f"rounds; load average at start: {_load_average()}", flush=True)
    peak = _run_worker(sys.executable, "peak", "-", args, env)
    results = {}
    for round_index in range(args.rounds):
        for case in cases:
            for framework, python in pythons.items():
                result = _run_worker(python, framework, case, args, env)
                if result is not None:
                    results.setdefault((case, framework), []).append(result)
        print(f"round {round_index + 1} done, load average {_load_average()}", flush=True)
    best = {key: min(runs, key=lambda r: r["mean"]) for key, runs in results.items()}
    _print_table(cases, list(pythons), best, peak)
    print(f"load average at end: {_load_average()}")
    if args.json:
        rows = {f"{case}/{framework}": value for (case, framework), value in best.items()}
        Path(args.json).write_text(json.dumps({"peak": peak, "results": rows}, indent=1))


def _print_table(cases, frameworks, best, peak):
    print()
    header = f"{'case':<14}" + "".join(f"{f + ' ms':>13}" for f in frameworks)
    header += "".join(f"{'d/' + f:>9}" for f in frameworks if f != "dendrite")
    header += f"{'d GFLOP/s':>11}" + "".join(f"{f[:5] + ' MB':>10}" for f in frameworks)
    print(header)
    for case in cases:
        model, batch, kind = _case(case)
        row = {f: best.get((case, f)) for f in frameworks}
        line = f"{case:<14}" + "".join(
            f"{_format_ms(r['mean'] if r else None):>13}" for r in row.values())
        mine = row.get("dendrite")
        for framework in frameworks:
            if framework == "dendrite":
                continue
            other = row[framework]
            ratio = f"{mine['mean'] / other['mean']:.2f}" if mine and other else "-"
            line += f"{ratio:>9}"
        flops = FORWARD_FLOPS[model] * batch * (1 if kind == "predict" else 3)
        line += f"{flops / mine['mean'] / 1e9:>11.0f}" if mine else f"{'-':>11}"
        line += "".join(f"{r['peak_mb']:>10.0f}" if r else f"{'-':>10}" for r in row.values())
        print(line)
    for case in cases:
        if case.startswith("busy"):
            idle = case.split("-", 1)[1]
            for framework in frameworks:
                busy, calm = best.get((case, framework)), best.get((idle, framework))
                if busy and calm:
                    print(f"{framework} {idle}: busy / idle = {busy['mean'] / calm['mean']:.1f}x")
    if peak:
        print(f"float32 matmul peak (2048^3, same threads): {peak['gflops']:.0f} GFLOP/s")
        for lib in peak["blas"]:
            print(f"BLAS: {lib.get('internal_api')} {lib.get('version')}, kernel "
                  f"{lib.get('architecture')}, {lib.get('num_threads')} threads, "
                  f"{Path(lib.get('filepath', '')).name}")


if __name__ == "__main__":
    main()
