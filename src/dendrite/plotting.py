"""Pictures of training and of what a network learned (matplotlib).

Learning curves, confusion-matrix heatmaps, a grid of misclassified images, the first Dense
layer's weights as images, a Conv2D layer's filters and the feature maps of one image.

matplotlib is optional (``pip install dendrite[plot]``) and imported only when a function here
is called, never at ``import dendrite``. The functions build a :class:`matplotlib.figure.Figure`
directly, without pyplot: no global figure state, no GUI backend, and a saved PNG is rendered by
Agg. Every function returns the Figure (it displays inline in Jupyter) and saves it when given
``path``.
"""

import math

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


def _finish(figure, path):
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def _grid(count, columns=None):
    """(rows, columns) of a near-square grid holding ``count`` panels."""
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    return max(1, math.ceil(count / columns)), columns


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
    a ``val_`` entry is drawn in the same panel as its training counterpart. Epochs are numbered
    from 1 and the ticks are whole epochs, even after a single epoch.

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
    epochs = max(len(v) for v in logs.values())
    for ax, name in zip(axes, names):
        for key, label, style in ((name, "training", "o-"), (f"val_{name}", "validation", "s--")):
            values = logs.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=label, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name.replace("_", " "))
        ax.grid(True, alpha=0.3)
        ax.legend()
        if epochs <= 12:
            ax.set_xticks(range(1, epochs + 1))
            ax.set_xlim(0.5, epochs + 0.5)
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
    return _finish(figure, path)


def plot_confusion_matrix(cm, class_names=None, path=None, title=None):
    """A heatmap of a confusion matrix with each count written in its cell.

    Rows are true classes and columns predicted classes, as
    :func:`dendrite.metrics.confusion_matrix` returns them. A cell's colour is its share of the
    row (of the true class): blue on the diagonal (0 to 100 %), red off it, where the scale ends
    at the largest error so that errors of a fraction of a percent stand out next to a diagonal
    near 100 %. The text is the count.

    Args:
        cm: (num_classes, num_classes) array of counts.
        class_names: labels for the classes, in index order. Default None labels them 0, 1, ...
        path: file to save the figure to. Default None saves nothing.
        title: what the counts are of, e.g. ``"MNIST test set"``; the title adds the accuracy
            (the diagonal's share of all counts). Default None: "Confusion matrix".

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
    rows = cm.sum(axis=1, keepdims=True)
    shares = cm / np.where(rows == 0, 1, rows)
    diagonal = np.eye(n, dtype=bool)
    largest_error = float(shares[~diagonal].max()) if n > 1 else 0.0
    error_limit = largest_error or 1.0
    size = max(4.5, 0.6 * n + 2)
    figure = Figure(figsize=(size + 2.2, size), layout="constrained")
    ax = figure.subplots()
    correct = ax.imshow(np.ma.masked_where(~diagonal, shares), cmap="Blues", vmin=0, vmax=1)
    errors = ax.imshow(np.ma.masked_where(diagonal, shares), cmap="Reds", vmin=0,
                       vmax=error_limit)
    from matplotlib.ticker import PercentFormatter

    for image, label in ((correct, "correct"), (errors, "errors")):
        colorbar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02,
                                   label=f"{label}: share of the true class")
        colorbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    long_names = max(map(len, names)) > 2
    ax.set_xticks(
        range(n), names, rotation=45 if long_names else 0, ha="right" if long_names else "center"
    )
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = cm.sum()
    heading = title or "Confusion matrix"
    if total:
        correct = cm.trace()
        ax.set_title(
            f"{heading}: accuracy {100 * correct / total:.2f} % ({_count(correct)} of "
            f"{_count(total)})"
        )
    else:
        ax.set_title(heading)
    integer = cm.dtype.kind in "iub"
    fontsize = 9 if n <= 10 else 7
    for i in range(n):
        for j in range(n):
            text = f"{cm[i, j]:d}" if integer else f"{cm[i, j]:.2f}"
            limit = 1.0 if i == j else error_limit
            dark = shares[i, j] > 0.6 * limit  # white text on dark cells
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "black")
    return _finish(figure, path)


def _count(value):
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _as_images(x, who):
    """(m, h, w) grey or (m, h, w, 3) colour images from flat squares or channels-last arrays."""
    x = np.asarray(x)
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ValueError(
                f"{who}: flat images must have a square number of pixels (e.g. 784 = 28 x 28); "
                f"got shape {x.shape}"
            )
        return x.reshape(len(x), side, side)
    if x.ndim == 4 and x.shape[-1] == 1:
        return x[..., 0]
    if x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3):
        return x
    raise ValueError(
        f"{who}: expected images of shape (m, pixels), (m, h, w), (m, h, w, 1) or (m, h, w, 3); "
        f"got {x.shape}"
    )


def plot_mistakes(x, y_true, probabilities, class_names=None, max_images=25, path=None):
    """A grid of misclassified images, the most confident mistakes first.

    Each panel shows an image with its true label, the predicted label and the probability the
    model gave to its prediction.

    Args:
        x: the images, (m, h*w) flat, (m, h, w), (m, h, w, 1) or (m, h, w, 3).
        y_true: (m,) integer labels.
        probabilities: (m, num_classes) predicted class probabilities (``model.predict(x)``).
        class_names: labels of the classes, in index order. Default None: 0, 1, ...
        max_images: the most mistakes to show. Default 25.
        path: file to save the figure to. Default None saves nothing.

    Returns:
        The :class:`matplotlib.figure.Figure`. Its axes are the panels, in order; each panel's
        title reads ``true 4 / predicted 9 (87 %)``.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the shapes of ``x``, ``y_true`` and ``probabilities`` disagree.
    """
    images = _as_images(x, "plot_mistakes")
    y_true = np.asarray(y_true).reshape(-1)
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or not len(images) == len(y_true) == len(probabilities):
        raise ValueError(
            "plot_mistakes: expected x of m images, y_true of shape (m,) and probabilities of "
            f"shape (m, num_classes); got {len(images)} images, y_true {y_true.shape}, "
            f"probabilities {probabilities.shape}"
        )
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(predicted)), predicted]
    wrong = np.flatnonzero(predicted != y_true)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:max_images]
    names = class_names or [str(i) for i in range(probabilities.shape[1])]
    Figure = _figure_class()
    rows, columns = _grid(max(len(wrong), 1), columns=min(5, max(len(wrong), 1)))
    figure = Figure(figsize=(2.1 * columns, 2.3 * rows), layout="constrained")
    if not len(wrong):
        ax = figure.subplots()
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=14)
        ax.set_axis_off()
        return _finish(figure, path)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, i in zip(axes, wrong):
        ax.imshow(images[i], cmap="gray_r" if images[i].ndim == 2 else None)
        ax.set_title(
            f"true {names[y_true[i]]}\npredicted {names[predicted[i]]} "
            f"({100 * confidence[i]:.0f} %)",
            fontsize=9,
            color="firebrick",
        )
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(wrong):]:
        ax.set_axis_off()
    figure.suptitle(f"{len(wrong)} of {int((predicted != y_true).sum()):,} mistakes "
                    "(most confident first)")
    return _finish(figure, path)


def _find_layer(model, layer, kind, who):
    """``layer`` itself, the model's layer of that name or index, or its first ``kind`` layer."""
    if layer is None:
        for candidate in model.layers:
            if type(candidate).__name__ == kind:
                return candidate
        raise ValueError(f"{who}: the model has no {kind} layer; its layers are "
                         f"{[type(item).__name__ for item in model.layers]}")
    if isinstance(layer, str):
        return model.get_layer(layer)
    if isinstance(layer, int) and not isinstance(layer, bool):
        return model.get_layer(index=layer)
    return layer


def _diverging_grid(figure, panels, titles, columns=None, colorbar_label="weight"):
    """Draw each 2-D array in ``panels`` on a shared symmetric blue-white-red scale."""
    rows, columns = _grid(len(panels), columns)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    limit = max(float(np.abs(p).max()) for p in panels) or 1.0
    image = None
    for ax, panel, title in zip(axes, panels, titles):
        image = ax.imshow(panel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        if title is not None:
            ax.set_title(title, fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    figure.colorbar(image, ax=list(axes), shrink=0.8, label=colorbar_label)
    return axes


def plot_dense_weights(model, layer=None, image_shape=None, class_names=None, max_units=64,
                       path=None):
    """The weights into each unit of a Dense layer, drawn as images (the "templates").

    Unit ``j``'s weights ``kernel[:, j]`` are reshaped to the input image: red pixels push the
    unit up, blue ones down. For softmax regression on MNIST the ten panels look like blurred
    digits.

    Args:
        model: a model, or the Dense layer itself.
        layer: name or index of the Dense layer in ``model``. Default None: the first Dense layer.
        image_shape: (height, width) of the input images. Default None: a square of the input
            size (784 -> (28, 28)).
        class_names: a title for each unit (e.g. the classes of an output layer). Default None:
            "unit j".
        max_units: the most units to draw (the first ones). Default 64.
        path: file to save the figure to. Default None saves nothing.

    Returns:
        The :class:`matplotlib.figure.Figure`; its first axes show units 0, 1, ... in order.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the model has no Dense layer, or the inputs do not form ``image_shape``.
    """
    dense = model if hasattr(model, "kernel") else _find_layer(model, layer, "Dense",
                                                                "plot_dense_weights")
    kernel = dense.kernel.numpy()
    fan_in, units = kernel.shape
    if image_shape is None:
        side = math.isqrt(fan_in)
        image_shape = (side, side)
    if image_shape[0] * image_shape[1] != fan_in:
        raise ValueError(
            f"plot_dense_weights: layer {dense.name!r} has {fan_in} inputs, which do not form "
            f"images of shape {tuple(image_shape)}; pass image_shape"
        )
    count = min(units, max_units)
    panels = [kernel[:, j].reshape(image_shape) for j in range(count)]
    titles = [str(class_names[j]) if class_names else f"unit {j}" for j in range(count)]
    Figure = _figure_class()
    rows, columns = _grid(count, columns=5 if count <= 10 else None)
    figure = Figure(figsize=(1.6 * columns + 1, 1.6 * rows + 0.6), layout="constrained")
    _diverging_grid(figure, panels, titles, columns)
    shown = f"the first {count} of {units}" if count < units else f"all {units}"
    figure.suptitle(f"{dense.name}: weights into each unit ({shown} units)")
    return _finish(figure, path)


def plot_filters(model, layer=None, max_filters=64, path=None):
    """A Conv2D layer's kernels: one small image per filter (and input channel).

    Args:
        model: a model, or the Conv2D layer itself.
        layer: name or index of the layer in ``model``. Default None: the first Conv2D layer.
        max_filters: the most filters to draw (the first ones). Default 64.
        path: file to save the figure to. Default None saves nothing.

    Returns:
        The :class:`matplotlib.figure.Figure`. With one input channel its first axes show
        filters 0, 1, ... (``kernel[:, :, 0, f]``); with several, row ``c`` shows input channel
        ``c`` (at most 8) of each filter.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the model has no Conv2D layer.
    """
    conv = model if hasattr(model, "kernel") else _find_layer(model, layer, "Conv2D",
                                                               "plot_filters")
    kernel = conv.kernel.numpy()
    if kernel.ndim != 4:
        raise ValueError(f"plot_filters: expected a Conv2D kernel (kh, kw, in, filters); layer "
                         f"{conv.name!r} has a kernel of shape {kernel.shape}")
    channels = min(kernel.shape[2], 8)
    count = min(kernel.shape[3], max_filters)
    Figure = _figure_class()
    if channels == 1:
        panels = [kernel[:, :, 0, f] for f in range(count)]
        titles = [str(f) for f in range(count)]
        columns = None
    else:
        panels = [kernel[:, :, c, f] for c in range(channels) for f in range(count)]
        titles = [str(f) if c == 0 else None for c in range(channels) for f in range(count)]
        columns = count
    rows, columns_used = _grid(len(panels), columns)
    figure = Figure(figsize=(0.9 * columns_used + 1.2, 0.9 * rows + 0.8), layout="constrained")
    _diverging_grid(figure, panels, titles, columns)
    kh, kw, in_channels, filters = kernel.shape
    figure.suptitle(f"{conv.name}: {filters} filters of {kh}x{kw}x{in_channels}"
                    + (f" (first {count} shown)" if count < filters else ""))
    return _finish(figure, path)


def _feature_extractor(model, layer):
    """``Model(model.input, layer.output)``: the activations of ``layer`` for an input."""
    from dendrite.models import Model

    return Model(model.input, layer.output)


def plot_feature_maps(model, image, layer, max_maps=32, path=None):
    """The activations of one layer for one image: one panel per channel (feature map).

    The maps come from a feature-extractor model, ``Model(model.input, layer.output)``, run on
    the image, so they are exactly what the layer outputs inside ``model``. Each map has its own
    colour scale (viridis: dark is its smallest value, yellow its largest).

    Args:
        model: a built model.
        image: one input, shaped like one sample of the model's input (e.g. (28, 28, 1)).
        layer: the layer, its name or its index in ``model.layers``.
        max_maps: the most channels to draw (the first ones). Default 32.
        path: file to save the figure to. Default None saves nothing.

    Returns:
        The :class:`matplotlib.figure.Figure`. Its first axes show the input image, the next
        ones channels 0, 1, ... of the layer's output.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the layer's output is not (batch, h, w, channels) or (batch, units).
    """
    target = _find_layer(model, layer, None, "plot_feature_maps")
    extractor = _feature_extractor(model, target)
    image = np.asarray(image)
    maps = np.asarray(extractor(image[None]))[0]
    if maps.ndim == 1:
        maps = maps[None, None, :]  # a Dense output: one row of units
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps: expected the output of layer {target.name!r} to be "
                         f"(batch, h, w, channels) or (batch, units); got {(1, *maps.shape)}")
    count = min(maps.shape[-1], max_maps) if maps.shape[0] > 1 else 1
    Figure = _figure_class()
    rows, columns = _grid(count + 1)
    figure = Figure(figsize=(1.5 * columns + 0.5, 1.5 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    shown = _as_images(image.reshape(1, -1) if image.ndim == 1 else image[None],
                       "plot_feature_maps")[0]
    axes[0].imshow(shown, cmap="gray_r" if shown.ndim == 2 else None)
    axes[0].set_title("input", fontsize=8)
    if maps.shape[0] == 1:
        axes[1].imshow(maps[0], cmap="viridis", aspect="auto")
        axes[1].set_title(f"{maps.shape[-1]} units", fontsize=8)
    else:
        for c in range(count):
            axes[c + 1].imshow(maps[:, :, c], cmap="viridis")
            axes[c + 1].set_title(str(c), fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[count + 1:]:
        ax.set_axis_off()
    channels = maps.shape[-1]
    figure.suptitle(f"{target.name}: {channels} feature maps of {maps.shape[0]}x{maps.shape[1]}"
                    + (f" (first {count} shown)" if count < channels else ""))
    return _finish(figure, path)
