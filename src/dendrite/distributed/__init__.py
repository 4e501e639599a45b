"""Data-parallel training over MPI: the same ``fit`` on several processes and machines.

Start the script with ``mpirun -n N python train.py`` and either pass a strategy::

    import dendrite as dd
    strategy = dd.distributed.MPIStrategy()
    model.fit(x, y, batch_size=64, strategy=strategy)

or call :func:`init` once, after which ``fit``, ``evaluate`` and ``predict`` use it by default.
``batch_size`` is the *global* batch: every rank draws the same permutation (the shuffle seed
comes from rank 0), computes the forward pass on its contiguous slice of each global batch, and
one ``Allreduce`` over the flat gradient buffer gives every rank the gradient of the global
batch, so training equals one process with the same batch. See :class:`MPIStrategy`.

MPI comes from ``mpi4py``, an optional extra: ``pip install dendrite[mpi]`` (with Open MPI or
MPICH installed, e.g. ``apt-get install openmpi-bin libopenmpi-dev``). Nothing here imports it
until a strategy is made.
"""

from dendrite.distributed.strategy import MPIStrategy, import_mpi
from dendrite.errors import arg_error

_default = None


def init(comm=None):
    """Start data parallelism for this process: ``fit``, ``evaluate`` and ``predict`` then run
    with an :class:`MPIStrategy` on ``comm`` (default ``MPI.COMM_WORLD``) unless given another.

    Returns the strategy. Calling it again returns the same strategy.

    Raises:
        ImportError: mpi4py is not installed (the message names the extra to install).
    """
    global _default
    if _default is None:
        _default = MPIStrategy(comm)
    return _default


def current():
    """The strategy :func:`init` made, or None (training on this process alone)."""
    return _default


def resolve(strategy, who):
    """The strategy ``who`` (``"fit"``, ``"evaluate"``, ``"predict"``) runs with: ``strategy``,
    or :func:`current` when it is None; anything else raises a ValueError naming it."""
    if strategy is None:
        return _default
    if not isinstance(strategy, MPIStrategy):
        raise arg_error(who, "strategy", "a dendrite.distributed.MPIStrategy or None", strategy)
    return strategy


def rank():
    """This process's rank, 0 to ``size() - 1``: the strategy's after :func:`init`, else the
    rank in ``MPI.COMM_WORLD`` (needs mpi4py; 0 for a script started without mpirun)."""
    if _default is not None:
        return _default.rank
    return import_mpi().COMM_WORLD.Get_rank()


def size():
    """The number of ranks: the strategy's after :func:`init`, else ``MPI.COMM_WORLD``'s."""
    if _default is not None:
        return _default.size
    return import_mpi().COMM_WORLD.Get_size()


__all__ = ["MPIStrategy", "current", "init", "rank", "resolve", "size"]
