"""Training script run by tests/test_distributed.py, alone or under ``mpirun -n 2``.

Alone it trains without a strategy (the reference); under mpirun with ``MPIStrategy``. Each rank
writes ``rank<r>.json`` (per-step SHA-256 of the weights, the history, evaluate's values) and
``rank<r>.npz`` (final weights, predictions) into ``--out``.

Usage: python train.py --out DIR [--model mlp|convnet] [--dtype float32|float64]
       [--batch 32] [--samples 640] [--epochs 1] [--optimizer sgd|adam]
       [--fail raise|kill --fail-rank 1 --fail-step 3]
       [--backup DIR --stop-epoch E] [--init] [--verbose 0|1|2] [--validation-split 0.2]
       [--nan-sample I]
"""

import argparse
import hashlib
import json
import os
import signal
import sys

import numpy as np

import dendrite as dd
from dendrite import layers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="mlp", choices=["mlp", "convnet"])
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--samples", type=int, default=640)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--fail", choices=["raise", "kill"])
    parser.add_argument("--fail-rank", type=int, default=1)
    parser.add_argument("--fail-step", type=int, default=3)
    parser.add_argument("--backup")
    parser.add_argument("--init", action="store_true", help="dd.distributed.init(), no strategy=")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--validation-split", type=float, default=0.0)
    parser.add_argument("--nan-sample", type=int, help="make this training sample NaN")
    parser.add_argument("--stop-epoch", type=int)
    args = parser.parse_args()

    distributed = "OMPI_COMM_WORLD_SIZE" in os.environ or "PMI_SIZE" in os.environ
    if args.init:
        dd.distributed.init()  # fit/evaluate/predict then use it without strategy=
        strategy = None
    else:
        strategy = dd.distributed.MPIStrategy() if distributed else None
    rank = dd.distributed.rank() if distributed else 0

    dd.config.set_floatx(args.dtype)
    dd.utils.set_random_seed(1234 + rank)  # different per rank: the broadcast must make them equal

    (x, y), _ = dd.datasets.mnist.load_data()
    x, y = x[:args.samples], y[:args.samples]
    if args.model == "mlp":
        x = x.reshape(len(x), -1).astype(args.dtype) / 255
        model = dd.Sequential([dd.Input((784,)), layers.Dense(64, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    else:
        x = (x[:, ::2, ::2, None].astype(args.dtype) / 255)  # 14 x 14
        model = dd.Sequential([dd.Input((14, 14, 1)), layers.Conv2D(6, 3),
                               layers.BatchNormalization(), layers.Activation("relu"),
                               layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.3),
                               layers.Dense(10, activation="softmax")])
    # SGD with momentum for the equivalence checks: Adam divides rounding noise in near-zero
    # gradients by their own tiny norm, turning float32 rounding into differences of order lr
    optimizer = (dd.optimizers.SGD(args.lr, momentum=0.9) if args.optimizer == "sgd"
                 else dd.optimizers.Adam(1e-3))
    if args.nan_sample is not None:
        x[args.nan_sample] = np.nan
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])


    class Record(dd.callbacks.Callback):
        """Hash of every weight after each step; a fault injected where asked."""

        def __init__(self):
            super().__init__()
            self.hashes, self.step = [], 0

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            digest = hashlib.sha256()
            for weight in self.model.weights:
                digest.update(np.ascontiguousarray(weight.value).tobytes())
            self.hashes.append(digest.hexdigest())
            if args.fail and rank == args.fail_rank and self.step == args.fail_step:
                if args.fail == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise RuntimeError(f"injected failure at step {self.step}")

        def on_epoch_end(self, epoch, logs=None):
            if args.stop_epoch is not None and epoch + 1 == args.stop_epoch:
                sys.exit(3)  # a crash after the backup of this epoch was written


    record = Record()
    callbacks = [record]
    if args.backup:  # first, so that its backup of an epoch is written before Record stops the run
        callbacks.insert(0, dd.callbacks.BackupAndRestore(args.backup))
    os.makedirs(args.out, exist_ok=True)
    try:
        history = model.fit(x, y, batch_size=args.batch, epochs=args.epochs, verbose=args.verbose,
                            callbacks=callbacks, validation_split=args.validation_split,
                            strategy=strategy)
    except FloatingPointError as error:  # every rank should raise it, with the same message
        with open(os.path.join(args.out, f"rank{rank}.error"), "w") as handle:
            handle.write(str(error))
        sys.exit(4)
    evaluation = model.evaluate(x, y, batch_size=args.batch, verbose=0, return_dict=True,
                                strategy=strategy)
    predictions = model.predict(x[:37], batch_size=8, verbose=0, strategy=strategy)

    with open(os.path.join(args.out, f"rank{rank}.json"), "w") as handle:
        json.dump({"hashes": record.hashes, "history": history.history, "evaluate": evaluation,
                   "iterations": model.optimizer.iterations,
                   "rank_size": ([dd.distributed.rank(), dd.distributed.size()] if distributed
                                 else None)}, handle)
    np.savez(os.path.join(args.out, f"rank{rank}.npz"), predictions=predictions,
             **{f"w{i}": w for i, w in enumerate(model.get_weights())})


if __name__ == "__main__":  # never at import (pytest's doctest collection)
    main()
