"""Training speed of the Keras MNIST convnet: dendrite's fit vs a plain PyTorch loop; a profile.

The model is Keras's "Simple MNIST convnet" (34,826 parameters)::

    Conv2D(32, 3x3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3x3, relu) -> MaxPooling2D(2)
    -> Flatten -> Dropout(0.5) -> Dense(10, softmax)

in both frameworks: Adam (lr 1e-3), float32, softmax cross-entropy, shuffled mini-batches of the
60,000 MNIST training images, the same thread count (``torch.set_num_threads(N)`` and
``OMP_NUM_THREADS`` = ``OPENBLAS_NUM_THREADS`` = ``MKL_NUM_THREADS`` = N for every worker).
PyTorch runs its default layout, (batch, channels, height, width); dendrite runs channels last.

Each framework runs in a fresh subprocess, so its peak memory is clean: the ``ru_maxrss`` growth
after the data is loaded (as float32, before the model is built). The peak is first reset to the
current RSS (``/proc/self/clear_refs``), else the temporaries of loading would hide the growth; a
``*`` after the figure says the reset was not possible. A worker trains ``--warmup``
batches, then times ``--batches`` batches; an epoch (469 batches of 128) is extrapolated from
their total time and, less sensitive to a busy machine, from the median batch time. The CPU
seconds (``time.process_time``, all threads) are the steadiest figure on a loaded machine with one
thread; with several, BLAS and OpenMP threads that spin while waiting for a descheduled partner
inflate them.

A third subprocess profiles dendrite for ``--profile-batches`` batches, twice:

1. cProfile: the functions with the largest cumulative time per training step.
2. The BLAS share: a line tracer (``sys.settrace``, only in dendrite's source files) stops at each
   line that contains a matrix product (``@``, ``matmul``, ``tensordot``, ``dot``), evaluates
   just that product on the frame's operands and times it. The product then runs a second time
   in the line itself, so the traced step minus the timed products is the step time, and the
   printed fraction is products / step. Lines are listed by product time per step.

The machine's load average is printed at the start and the end: on a shared machine every figure
here is noisy; compare runs made under similar load.

Run:
    python bench/cnn_mnist.py [--threads 2] [--batches 100] [--batch-size 128]
        [--warmup 10] [--profile-batches 20] [--profile-clock wall|cpu]
"""

import argparse
import ast
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

EPOCH_IMAGES = 60000
MATMUL_CALLS = ("matmul", "tensordot", "dot")


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss():
    """Lower the peak RSS to the current RSS (Linux >= 4.0), so the temporaries of data loading
    do not hide the training's growth; returns whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        return False
    return True


def _load_mnist():
    """MNIST training images as float32 (60000, 28, 28, 1) in [0, 1] and int64 labels."""
    import dendrite as dd

    (x, y), _ = dd.datasets.mnist.load_data()
    return (x.reshape(-1, 28, 28, 1).astype("float32") / 255), y.astype("int64")


def _summary(times, cpu_seconds, batch_size):
    """Seconds per epoch from the total and the median of per-batch times, and CPU seconds."""
    batches_per_epoch = -(-EPOCH_IMAGES // batch_size)
    ordered = sorted(times)
    return {
        "epoch_total": sum(times) / len(times) * batches_per_epoch,
        "epoch_median": ordered[len(ordered) // 2] * batches_per_epoch,
        "epoch_cpu": cpu_seconds / len(times) * batches_per_epoch,
        "batch_min": ordered[0],
        "batch_max": ordered[-1],
    }


# ---------------------------------------------------------------------------- dendrite


def _dendrite_model():
    import dendrite as dd
    from dendrite import layers

    dd.utils.set_random_seed(0)
    model = dd.Sequential(
        [
            dd.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=dd.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def _batch_timer():
    """A callback recording the seconds from one batch's end to the next (data gathering included)
    in its ``times`` list."""
    from dendrite.callbacks import Callback

    class BatchTimer(Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.times.append(now - self._last)
            self._last = now

    return BatchTimer()


def run_dendrite(x, y, batch_size, warmup, batches):
    model = _dendrite_model()
    model.fit(x[: warmup * batch_size], y[: warmup * batch_size], batch_size=batch_size, verbose=0)
    timer = _batch_timer()
    count = batches * batch_size
    cpu_start = time.process_time()
    model.fit(x[:count], y[:count], batch_size=batch_size, verbose=0, callbacks=[timer])
    return timer.times, time.process_time() - cpu_start


# ---------------------------------------------------------------------------- PyTorch


def run_torch(x, y, batch_size, warmup, batches, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(1600, 10),
    )
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt = torch.from_numpy(x.reshape(-1, 1, 28, 28))  # a view: one channel
    yt = torch.from_numpy(y)
    full_batches = len(xt) // batch_size
    times = []
    for step in range(warmup + batches):
        if step == warmup:
            cpu_start = time.process_time()
        start = time.perf_counter()
        if step % full_batches == 0:
            order = torch.randperm(len(xt))
        i = step % full_batches
        index = order[i * batch_size : (i + 1) * batch_size]
        loss = torch.nn.functional.cross_entropy(model(xt[index]), yt[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times[warmup:], time.process_time() - cpu_start


# ---------------------------------------------------------------------------- profile


def _matmul_expressions(filename):
    """{line: [(compiled product, source)]} for each statement of ``filename`` with a product.

    Only the outermost products; a product under a conditional expression keeps its condition,
    so it is evaluated exactly when the line would evaluate it.
    """
    tree = ast.parse(Path(filename).read_text())
    table = {}

    def visit(node, statement, guards):
        if isinstance(node, ast.stmt):
            statement = node
        if isinstance(node, (ast.Lambda, ast.comprehension, ast.BoolOp)):
            return
        is_call = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MATMUL_CALLS
        )
        if statement is not None and (
            (isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult)) or is_call
        ):
            expression = node
            for test, taken in reversed(guards):
                condition = test if taken else ast.UnaryOp(ast.Not(), test)
                expression = ast.IfExp(condition, expression, ast.Constant(None))
            expression = ast.fix_missing_locations(ast.Expression(expression))
            code = compile(expression, filename, "eval")
            table.setdefault(statement.lineno, []).append((code, ast.unparse(node)))
            return
        for field, child in ast.iter_fields(node):
            children = child if isinstance(child, list) else [child]
            for item in children:
                if not isinstance(item, ast.AST):
                    continue
                inner = guards
                if isinstance(node, ast.IfExp) and field in ("body", "orelse"):
                    inner = [*guards, (node.test, field == "body")]
                visit(item, statement, inner)

    visit(tree, None, [])
    return table


def _trace_matmuls(run, clock):
    """Run ``run()`` under a line tracer that times each product in dendrite's source files.

    Returns (seconds on ``clock``, {(file, line): [seconds, calls, source]}).
    """
    import dendrite

    root = str(Path(dendrite.__file__).parent)
    tables = {}
    timings = {}

    def local(frame, event, arg):
        if event == "line":
            for code, source in tables[frame.f_code.co_filename].get(frame.f_lineno, ()):
                start = clock()
                eval(code, frame.f_globals, frame.f_locals)
                entry = timings.setdefault(
                    (frame.f_code.co_filename, frame.f_lineno), [0.0, 0, source]
                )
                entry[0] += clock() - start
                entry[1] += 1
        return local

    def global_trace(frame, event, arg):
        filename = frame.f_code.co_filename
        if not filename.startswith(root):
            return None
        if filename not in tables:
            tables[filename] = _matmul_expressions(filename)
        return local if tables[filename] else None

    start = clock()
    sys.settrace(global_trace)
    try:
        run()
    finally:
        sys.settrace(None)
    return clock() - start, timings


def _short(filename):
    return "/".join(Path(filename).parts[-2:]) if "dendrite" in filename else Path(filename).name


def profile_dendrite(x, y, batch_size, batches, clock, top=14):
    model = _dendrite_model()
    model.fit(x[: 2 * batch_size], y[: 2 * batch_size], batch_size=batch_size, verbose=0)
    count = batches * batch_size

    def run():
        model.fit(x[:count], y[:count], batch_size=batch_size, verbose=0)

    profiler = cProfile.Profile(clock)
    profiler.runcall(run)
    stats = pstats.Stats(profiler).stats
    step_key = next(k for k in stats if k[2] == "train_on_batch_arrays")
    step = stats[step_key][3] / batches
    functions = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.items():
        if cumtime / batches > step * 1.0001:  # fit and the profiler's own frames
            continue
        label = f"{_short(filename)}:{line}({name})" if filename != "~" else name
        functions.append((cumtime / batches, tottime / batches, calls / batches, label))
    functions.sort(reverse=True)

    wall, timings = _trace_matmuls(run, clock)
    product_seconds = sum(entry[0] for entry in timings.values())
    traced_step = (wall - product_seconds) / batches
    lines = sorted(
        (
            (entry[0] / batches, entry[1] / batches, f"{_short(f)}:{line}", entry[2])
            for (f, line), entry in timings.items()
        ),
        reverse=True,
    )
    return {
        "step": step,
        "functions": functions[:top],
        "traced_step": traced_step,
        "blas_step": product_seconds / batches,
        "lines": lines,
    }


# ---------------------------------------------------------------------------- driver


def worker(framework, args):
    x, y = _load_mnist()
    if framework == "profile":
        clock = time.process_time if args.profile_clock == "cpu" else time.perf_counter
        print(json.dumps(profile_dendrite(x, y, args.batch_size, args.profile_batches, clock)))
        return
    peak_reset = _reset_peak_rss()
    baseline = _peak_rss_mb()
    load_before = os.getloadavg()[0]
    if framework == "dendrite":
        times, cpu_seconds = run_dendrite(x, y, args.batch_size, args.warmup, args.batches)
    else:
        times, cpu_seconds = run_torch(
            x, y, args.batch_size, args.warmup, args.batches, args.threads
        )
    print(
        json.dumps(
            {
                **_summary(times, cpu_seconds, args.batch_size),
                "peak_mb": _peak_rss_mb() - baseline,
                "peak_reset": peak_reset,
                "load": [load_before, os.getloadavg()[0]],
            }
        )
    )


def _load_average():
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=100, help="timed batches")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=10, help="batches before timing")
    parser.add_argument(
        "--profile-batches", type=int, default=20, help="batches profiled (0 skips the profile)"
    )
    parser.add_argument(
        "--profile-clock",
        choices=("wall", "cpu"),
        default="wall",
        help="the profile's clock: wall time, or CPU time of all threads (steadier on a busy "
        "machine with --threads 1)",
    )
    parser.add_argument(
        "--worker", choices=("dendrite", "torch", "profile"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    threads = str(args.threads)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    batches_per_epoch = -(-EPOCH_IMAGES // args.batch_size)
    print(
        f"Keras MNIST convnet (34,826 params), batch {args.batch_size}, Adam, float32, "
        f"{args.threads} threads, {os.cpu_count()} cores; {args.batches} batches timed after "
        f"{args.warmup}, epoch = {batches_per_epoch} batches"
    )
    print(f"load average at start: {_load_average()}")
    frameworks = ["dendrite", "torch"] + (["profile"] if args.profile_batches else [])
    results = {}
    for framework in frameworks:
        command = [sys.executable, __file__, "--worker", framework]
        options = ("threads", "batches", "batch_size", "warmup", "profile_batches", "profile_clock")
        for option in options:
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        results[framework] = json.loads(out.strip().splitlines()[-1])
    d, t = results["dendrite"], results["torch"]
    print(
        f"{'':>10} {'s/epoch':>9} {'s/epoch':>9} {'CPU s/':>9} {'batch s':>8} {'batch s':>8} "
        f"{'peak MB':>8}"
    )
    print(f"{'':>10} {'(total)':>9} {'(median)':>9} {'epoch':>9} {'min':>8} {'max':>8}")
    for name, r in (("dendrite", d), ("torch", t)):
        print(
            f"{name:>10} {r['epoch_total']:>9.1f} {r['epoch_median']:>9.1f} {r['epoch_cpu']:>9.1f} "
            f"{r['batch_min']:>8.3f} {r['batch_max']:>8.3f} {r['peak_mb']:>8.1f}"
            f"{'' if r['peak_reset'] else '*'}"
        )
    print(
        f"{'ratio':>10} {d['epoch_total'] / t['epoch_total']:>9.2f} "
        f"{d['epoch_median'] / t['epoch_median']:>9.2f} {d['epoch_cpu'] / t['epoch_cpu']:>9.2f}"
        "   (dendrite / torch)"
    )
    if args.profile_batches:
        p = results["profile"]
        print(
            f"\ndendrite profile, {args.profile_batches} batches: step "
            f"{p['step'] * 1e3:.0f} ms under cProfile ({args.profile_clock} clock)"
        )
        print(f"{'cum ms':>8} {'self ms':>8} {'calls':>6}  function (per step)")
        for cumtime, tottime, calls, label in p["functions"]:
            print(f"{cumtime * 1e3:>8.1f} {tottime * 1e3:>8.1f} {calls:>6.0f}  {label}")
        print(
            f"\nmatrix products (BLAS): {p['blas_step'] * 1e3:.0f} ms of a "
            f"{p['traced_step'] * 1e3:.0f} ms step = {p['blas_step'] / p['traced_step']:.0%}; "
            f"elsewhere {(p['traced_step'] - p['blas_step']) * 1e3:.0f} ms"
        )
        print(f"{'ms':>8} {'calls':>6}  line: product")
        for seconds, calls, where, source in p["lines"]:
            print(f"{seconds * 1e3:>8.1f} {calls:>6.0f}  {where}: {source}")
    print(f"load average at end: {_load_average()}")


if __name__ == "__main__":
    main()
