"""``PyDataset``: batches computed on demand, loaded in parallel (Keras 3's
``keras.utils.PyDataset``).

A subclass defines ``__len__`` (batches per epoch) and ``__getitem__(index)`` returning one batch:
``(x, y)``, ``(x, y, sample_weight)`` or, for ``predict``, ``x`` alone, where ``x`` and ``y`` are
arrays or lists of arrays (several inputs or outputs). ``fit``, ``evaluate`` and ``predict`` take it
as ``x``. With ``workers > 1`` the batches of an epoch are computed ahead, in order, by ``workers``
threads, or by ``workers`` forked processes with ``use_multiprocessing=True``, keeping at most
``max_queue_size`` batches waiting. Processes send arrays back as raw bytes behind a small JSON
header (no pickle); they need the ``fork`` start method (Linux, macOS).
"""

import json
import multiprocessing
import os
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from dendrite.backend import host as np
from dendrite.errors import check_bool, positive_int


class PyDataset:
    """Base class of data sets that compute their batches on demand.

    Args:
        workers: number of threads (or processes) computing batches ahead. Default 1: batches
            are computed one by one in the training thread.
        use_multiprocessing: compute batches in ``workers`` forked processes instead of threads
            (for Python-heavy loading that holds the GIL). Default False.
        max_queue_size: at most this many batches are computed ahead. Default 10.

    Example:
        >>> class Squares(PyDataset):
        ...     def __len__(self):
        ...         return 2
        ...     def __getitem__(self, index):
        ...         x = np.arange(3, dtype="float32") + 3 * index
        ...         return x[:, None], (x**2)[:, None]
        >>> [batch[1].ravel().tolist() for batch in iterate_batches(Squares(workers=2))]
        [[0.0, 1.0, 4.0], [9.0, 16.0, 25.0]]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    # Settable as in Keras 3 (e.g. on what image_dataset_from_directory returns); subclasses
    # that forget to call super().__init__() get Keras's defaults.
    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = positive_int(type(self).__name__, "workers", value)

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = check_bool(type(self).__name__, "use_multiprocessing", value)

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = positive_int(type(self).__name__, "max_queue_size", value)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")

    @property
    def num_batches(self):
        """Batches per epoch: ``len(self)``."""
        return len(self)

    def on_epoch_begin(self):
        """Called before each epoch's first batch is requested."""

    def on_epoch_end(self):
        """Called after each epoch (e.g. to reshuffle)."""


Sequence = PyDataset
"""Keras 2's ``keras.utils.Sequence``, the old name of :class:`PyDataset`."""


def iterate_batches(dataset, steps=None):
    """Yield ``dataset[0], dataset[1], ...`` (``steps`` of them, default ``len(dataset)``) in order.

    Loads ahead with the dataset's ``workers`` threads or processes; stops early, like the end of
    a generator, when ``steps`` exceeds ``len(dataset)``.
    """
    count = len(dataset) if steps is None else min(steps, len(dataset))
    workers, ahead = dataset.workers, max(dataset.max_queue_size, dataset.workers)
    if workers <= 1 or count <= 1:
        for index in range(count):
            yield dataset[index]
    elif dataset.use_multiprocessing:
        yield from _process_batches(dataset, count, workers, ahead)
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="pydataset") as pool:
            pending = deque()
            try:
                for index in range(count):
                    pending.append(pool.submit(dataset.__getitem__, index))
                    if len(pending) >= ahead:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()


# ---------------------------------------------------------------------------- processes


def _process_batches(dataset, count, workers, ahead):
    """Batches computed by forked processes; batch ``i`` comes from worker ``i % workers``."""
    context = multiprocessing.get_context("fork")
    links = []
    for _ in range(workers):
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(dataset, child), daemon=True)
        process.start()
        child.close()
        links.append((parent, process))
    try:
        sent = 0
        for index in range(count):
            while sent < count and sent < index + ahead:
                links[sent % workers][0].send_bytes(str(sent).encode())
                sent += 1
            yield _receive(links[index % workers][0], index)
    finally:
        for parent, process in links:
            try:
                parent.send_bytes(b"stop")
            except OSError:
                pass
            parent.close()
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()


def _worker(dataset, connection):
    while True:
        try:
            message = connection.recv_bytes()
        except EOFError:
            break
        if message == b"stop":
            break
        try:
            _send(connection, dataset[int(message)])
        except Exception as error:  # noqa: BLE001 (the parent re-raises it with this traceback)
            text = "".join(traceback.format_exception(error))
            connection.send_bytes(json.dumps({"error": type(error).__name__,
                                              "traceback": text}).encode())
    connection.close()
    os._exit(0)


def _flatten(batch):
    """(structure, arrays): tuples/lists/dicts of arrays (or None) as a JSON-able nesting of
    indices."""
    arrays = []

    def walk(item):
        if isinstance(item, dict):
            return {"dict": [[key, walk(value)] for key, value in item.items()]}
        if isinstance(item, (tuple, list)):
            return {"list" if isinstance(item, list) else "tuple": [walk(i) for i in item]}
        if item is None:
            return None
        arrays.append(np.ascontiguousarray(item))
        return len(arrays) - 1

    return walk(batch), arrays


def _send(connection, batch):
    structure, arrays = _flatten(batch)
    specs = [[a.dtype.str, list(a.shape)] for a in arrays]
    for _, spec in zip(arrays, specs):
        if np.dtype(spec[0]).kind == "O":
            raise TypeError("a PyDataset batch must hold numeric arrays; got dtype object")
    connection.send_bytes(json.dumps({"structure": structure, "arrays": specs}).encode())
    for array in arrays:
        connection.send_bytes(memoryview(array.reshape(-1).view(np.uint8)))


def _receive(connection, index):
    header = json.loads(connection.recv_bytes())
    if "error" in header:
        raise RuntimeError(f"PyDataset worker failed on batch {index} with {header['error']}:\n"
                           f"{header['traceback']}")
    arrays = []
    for dtype, shape in header["arrays"]:
        data = bytearray(connection.recv_bytes())
        arrays.append(np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape))

    def build(node):
        if node is None:
            return None
        if isinstance(node, int):
            return arrays[node]
        kind, items = next(iter(node.items()))
        if kind == "dict":
            return {key: build(value) for key, value in items}
        items = [build(i) for i in items]
        return items if kind == "list" else tuple(items)

    return build(header["structure"])
