"""Plots of training results: learning curves and confusion-matrix heatmaps (matplotlib).

matplotlib is optional (``pip install dendrite[plot]``) and imported only when a function here
is called, never at ``import dendrite``. The functions build a :class:`matplotlib.figure.Figure`
directly, without pyplot: no global figure state, no GUI backend, and a saved PNG is rendered by
Agg. The returned Figure displays inline in Jupyter.
"""

from dendrite.backend import host as np


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "dendrite.plotting needs matplotlib; install it with `pip install dendrite[plot]` "
            "(or `pip install matplotlib`)."
        ) from error
    return Figure


def _history_dict(history):
    """``{name: list of per-epoch values}`` from a History callback or a plain dict."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(
            "plot_history: expected a History (what fit returns) or a dict of per-epoch lists; "
            f"got {type(history).__name__}"
        )
    return logs


def plot_history(history, path=None):
    """Learning curves: each logged quantity against the epoch, training and validation.

    One panel per quantity found in the logs (``loss``, then each metric such as ``accuracy``);
    a ``val_`` entry is drawn in the same panel as its training counterpart.

    Args:
        history: the :class:`~dendrite.callbacks.History` that ``fit`` returns, or its
            ``history`` dict (``{"loss": [...], "val_loss": [...], ...}``).
        path: file to save the figure to (the format follows the extension, e.g. ``.png``).
            Default None saves nothing.

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the logs hold no per-epoch values.
    """
    logs = _history_dict(history)
    names = [k for k in logs if not k.startswith("val_")]
    names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
    if not names or not any(len(v) for v in logs.values()):
        raise ValueError(f"plot_history: the history holds no per-epoch values; got {logs!r}")
    Figure = _figure_class()
    figure = Figure(figsize=(5 * len(names), 4), layout="constrained")
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for key, label, style in ((name, "training", "o-"), (f"val_{name}", "validation", "s--")):
            values = logs.get(key)
            if values:
                epochs = range(1, len(values) + 1)
                ax.plot(epochs, values, style, label=label, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name.replace("_", " "))
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def plot_confusion_matrix(cm, class_names=None, path=None):
    """A heatmap of a confusion matrix with each count written in its cell.

    Rows are true classes and columns predicted classes, as
    :func:`dendrite.metrics.confusion_matrix` returns them.

    Args:
        cm: (num_classes, num_classes) array of counts.
        class_names: labels for the classes, in index order. Default None labels them 0, 1, ...
        path: file to save the figure to. Default None saves nothing.

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: ``cm`` is not square, or ``class_names`` has the wrong length.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(
            f"plot_confusion_matrix: cm must be a square 2-D array; got shape {cm.shape}"
        )
    n = cm.shape[0]
    names = [str(i) for i in range(n)] if class_names is None else [str(c) for c in class_names]
    if len(names) != n:
        raise ValueError(
            f"plot_confusion_matrix: class_names must have {n} entries (one per class); "
            f"got {len(names)}"
        )
    Figure = _figure_class()
    size = max(4.5, 0.6 * n + 2)
    figure = Figure(figsize=(size + 1, size), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(cm, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    long_names = max(map(len, names)) > 2
    ax.set_xticks(
        range(n), names, rotation=45 if long_names else 0, ha="right" if long_names else "center"
    )
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    # white text on cells darker than half the colour range
    threshold = cm.max() / 2 if cm.size else 0
    integer = cm.dtype.kind in "iub"
    fontsize = 9 if n <= 10 else 7
    for i in range(n):
        for j in range(n):
            text = f"{cm[i, j]:d}" if integer else f"{cm[i, j]:.2f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if cm[i, j] > threshold else "black",
            )
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure
