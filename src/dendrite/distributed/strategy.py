"""``MPIStrategy``: data-parallel ``fit``, ``evaluate`` and ``predict`` over MPI (mpi4py)."""

import contextlib
import json
import math
import sys
import time

from dendrite.backend import get_array_module
from dendrite.backend import host as np
from dendrite.distributed import sync_layers
from dendrite.errors import describe

MPI_MISSING = (
    "dendrite.distributed needs mpi4py and an MPI library: pip install 'dendrite[mpi]' (with "
    "Open MPI installed, e.g. apt-get install openmpi-bin libopenmpi-dev), then start the script "
    "on N processes with: mpirun -n N python train.py"
)


def import_mpi():
    """``mpi4py.MPI``, or an ImportError naming the extra to install and the command to run."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"{MPI_MISSING} ({error})") from None
    return MPI


def shard_bounds(rows, rank, size):
    """Rows ``[start, stop)`` of a global batch of ``rows`` that ``rank`` of ``size`` computes.

    Contiguous slices whose lengths differ by at most one, the longer ones first (as
    ``numpy.array_split``): 7 rows over 2 ranks are rows 0-3 and 4-6.

    Example:
        >>> [shard_bounds(7, rank, 2) for rank in range(2)]
        [(0, 4), (4, 7)]
    """
    base, extra = divmod(rows, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class MPIStrategy:
    """Data parallelism over MPI: each of ``size`` processes computes a slice of every batch.

    ``batch_size`` stays the *global* batch. One training step on every rank:

    1. the same global batch is drawn (shuffling uses ``model.shuffle_generator``, whose state
       rank 0 broadcasts), and the rank runs the forward pass on its rows
       :func:`shard_bounds`;
    2. the outputs are gathered (``Allgatherv``, batch x output size values), so the loss, the
       metrics and the NaN check are computed on the whole batch, identically on every rank;
    3. each rank back-propagates its rows of d(loss)/d(output) (already divided by the global
       batch, so an uneven last batch stays exact) and adds weight-regularization gradients on
       rank 0 only;
    4. one in-place ``Allreduce`` (sum) over the flat gradient buffer gives every rank the
       gradient of the global batch, and every rank applies the same optimizer step.

    BatchNormalization layers normalize with the statistics of the global batch (their sums are
    all-reduced, Keras's ``synchronized=True``), so the moving statistics stay identical on every
    rank; Dropout and the other noise layers draw the mask of the global batch from a generator
    whose state comes from rank 0 and keep their rows. Hence training on N ranks equals training
    on one process with the same global batch, to rounding.

    When training starts (after callbacks' ``on_train_begin``, so after a ``BackupAndRestore``
    restore on rank 0), rank 0 broadcasts the weights, the optimizer state, every random
    generator's state and the epoch to resume from. Only rank 0 prints progress and runs the
    callbacks that write files (ModelCheckpoint, BackupAndRestore, CSVLogger); the others run the
    rest (EarlyStopping, schedules) on the same logs, so all ranks stop together.

    A rank whose Python exception is not caught prints it, names itself and calls
    ``MPI_Abort``, which ends every rank (instead of leaving them blocked in a collective); a rank
    killed outright is reported by ``mpirun``, which ends the others.

    Every rank builds the same global batch (from arrays, or from a generator or PyDataset that
    must yield the same batches on every rank) and computes on a view of its rows. A training batch
    needs at least one sample per rank. Not exact under the strategy: losses added with
    ``add_loss`` that depend on the batch (their gradient is summed over ranks), and random draws
    inside recurrent cells (recurrent dropout). Weights must be on the NumPy backend (the NCCL
    path for device buffers is not built).

    Args:
        comm: an mpi4py communicator. Default ``MPI.COMM_WORLD``.

    Attributes:
        rank, size: this process's rank and the number of ranks.
        allreduce_seconds: wall time spent in the gradient Allreduce (for benchmarks).

    Raises:
        ImportError: mpi4py is missing (the message says what to install and how to start).
    """

    def __init__(self, comm=None):
        self._mpi = import_mpi()
        self.comm = self._mpi.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.allreduce_seconds = 0.0
        self.bounds = None  # (global rows, start, stop) of the current batch
        _install_abort_hook(self.comm, self.rank, self.size)

    def __repr__(self):
        return f"MPIStrategy(rank={self.rank}, size={self.size})"

    # -------------------------------------------------------------- entering and leaving

    @contextlib.contextmanager
    def scope(self, model):
        """Run ``model``'s ``fit``/``evaluate``/``predict`` data-parallel inside this block.

        BatchNormalization and noise layers are switched to their synchronized forms for the
        duration and rank 0's weights, optimizer state and generators are broadcast on entry.
        """
        if getattr(model, "_strategy", None) is not None:
            yield self
            return
        devices = [xp for xp in (get_array_module(v.value) for v in model.weights) if xp is not np]
        if devices:
            raise NotImplementedError(
                f"MPIStrategy: {describe(model)} has its weights on "
                f"{getattr(devices[0], '__name__', devices[0])}; the "
                "strategy all-reduces NumPy arrays (the NCCL path for device buffers is not "
                "built yet): train it on the NumPy backend")
        model._strategy = self
        patched = sync_layers.patch(model, self)
        try:
            self.synchronize(model)
            yield self
        finally:
            sync_layers.unpatch(patched)
            model._strategy = None

    def synchronize(self, model):
        """Broadcast from rank 0: weights, optimizer state (per variable, in the flat arrays
        named by ``optimizer.state_names``) and step count, random generators' states, and the
        epoch ``BackupAndRestore`` resumes from."""
        for variable in model.weights:
            self._bcast_array(variable.value)
        optimizer = getattr(model, "optimizer", None)
        flat = getattr(model, "_flat", None)
        if optimizer is not None and flat is not None:
            if optimizer._flat is not flat:
                optimizer.build(flat)  # as its first step would; keeps per-variable state
            for name in optimizer.state_names:
                state = getattr(optimizer, name, None)
                if state is not None:
                    self._bcast_array(state)
        generators = sync_layers.generators(model)
        shared = self._bcast_json({
            "iterations": getattr(optimizer, "iterations", 0),
            "initial_epoch": getattr(model, "_initial_epoch", None),
            "generators": [g.bit_generator.state for g in generators],
        })
        if optimizer is not None:
            optimizer.iterations = shared["iterations"]
        if hasattr(model, "_initial_epoch"):
            model._initial_epoch = shared["initial_epoch"]
        for generator, state in zip(generators, shared["generators"]):
            generator.bit_generator.state = state

    def rank_callbacks(self, callbacks, verbose):
        """``(callbacks, verbose)`` for this rank: unchanged on rank 0; elsewhere without the
        progress bar and the callbacks that write files."""
        if self.rank == 0:
            return callbacks, verbose
        from dendrite import callbacks as module

        writers = tuple(getattr(module, name) for name in
                        ("ProgbarLogger", "ModelCheckpoint", "BackupAndRestore", "CSVLogger",
                         "TensorBoard") if hasattr(module, name))
        return [c for c in callbacks or [] if not isinstance(c, writers)], 0

    # -------------------------------------------------------------- the step

    def forward(self, model, xs, training=False):
        """Outputs of ``model`` for the global batch ``xs`` (every rank holds it), computed on
        this rank's rows and gathered, so every rank returns the whole batch's outputs."""
        rows = len(xs[0])
        if rows < self.size:
            if training:  # every rank decides alike, before any collective
                raise ValueError(
                    f"MPIStrategy: a training batch of {rows} sample(s) cannot be split over "
                    f"{self.size} ranks (each needs at least one); choose batch_size and the "
                    f"number of samples so that every batch, the last one included, has at "
                    f"least {self.size} samples")
            return model._graph.forward(xs, training=False)  # each rank computes it all
        start, stop = shard_bounds(rows, self.rank, self.size)
        self.bounds = (rows, start, stop)
        outputs = model._graph.forward([x[start:stop] for x in xs], training=training)
        return [self._gather(output, rows) for output in outputs]

    def train_step(self, model, xs, ys, sample_weight):
        """One data-parallel optimizer step on a global batch; returns its loss (the same on
        every rank, NaN or infinite included, so every rank stops together)."""
        flat = model._flat
        flat.zero_grads()
        outputs = self.forward(model, xs, training=True)
        rows, start, stop = self.bounds
        penalty = self.allreduce_sum(model._penalty() * (stop - start) / rows)
        loss = model.compiled.forward(ys, outputs, sample_weight, penalty)
        if not math.isfinite(loss):
            return loss
        grads, logit_grads = model.compiled.output_gradients()
        # d(loss)/d(output) is divided by the global batch: this rank's rows of it are its share
        model._graph.backward([None if g is None else g[start:stop] for g in grads],
                              [None if g is None else g[start:stop] for g in logit_grads])
        if self.rank == 0:
            for variable in model._regularized:
                variable.grad += variable.regularizer.gradient(variable.value)
        begin = time.perf_counter()
        self.comm.Allreduce(self._mpi.IN_PLACE, flat.grads)
        self.allreduce_seconds += time.perf_counter() - begin
        model.optimizer.step(flat)
        return loss

    # -------------------------------------------------------------- collectives

    def allreduce_sum(self, value):
        """The sum over ranks of a float."""
        buffer = np.array([value], dtype="float64")
        self.comm.Allreduce(self._mpi.IN_PLACE, buffer)
        return float(buffer[0])

    def allreduce_array(self, array):
        """The element-wise sum over ranks of ``array`` (a new contiguous array)."""
        buffer = np.ascontiguousarray(array).copy()
        self.comm.Allreduce(self._mpi.IN_PLACE, buffer)
        return buffer

    def _gather(self, local, rows):
        """Every rank's rows of ``local`` (in rank order) as one array of ``rows`` rows."""
        if self.size == 1:
            return local
        row = math.prod(local.shape[1:])
        counts = [(b - a) * row for a, b in (shard_bounds(rows, r, self.size)
                                             for r in range(self.size))]
        displacements = [sum(counts[:r]) for r in range(self.size)]
        out = np.empty((rows, *local.shape[1:]), dtype=local.dtype)
        self.comm.Allgatherv(np.ascontiguousarray(local), [out, (counts, displacements)])
        return out

    def _bcast_array(self, array):
        if self.size == 1:
            return
        if array.flags.c_contiguous:
            self.comm.Bcast(array, root=0)
        else:
            buffer = np.ascontiguousarray(array)
            self.comm.Bcast(buffer, root=0)
            array[...] = buffer

    def _bcast_json(self, value):
        """``value`` (JSON-safe) as rank 0 has it, on every rank (no pickle: JSON bytes)."""
        if self.size == 1:
            return value
        data = json.dumps(value).encode() if self.rank == 0 else b""
        length = np.array([len(data)], dtype="int64")
        self.comm.Bcast(length, root=0)
        buffer = (np.frombuffer(data, dtype="uint8").copy() if self.rank == 0
                  else np.empty(int(length[0]), dtype="uint8"))
        self.comm.Bcast(buffer, root=0)
        return json.loads(buffer.tobytes().decode())


def _install_abort_hook(comm, rank, size):
    """On an uncaught exception: print it, name the rank, and ``MPI_Abort`` every rank (the
    others would otherwise wait in their next collective forever)."""
    if size == 1 or getattr(sys.excepthook, "dendrite_abort", False):
        return
    previous = sys.excepthook

    def abort(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stderr.write(f"dendrite.distributed: rank {rank} of {size} failed with "
                         f"{kind.__name__}: {value}; aborting all {size} ranks\n")
        sys.stderr.flush()
        comm.Abort(1)

    abort.dendrite_abort = True
    sys.excepthook = abort
