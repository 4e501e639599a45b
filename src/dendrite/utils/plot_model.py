"""``plot_model``: draw a model's layer graph with graphviz (Keras's ``keras.utils.plot_model``)."""

from pathlib import Path


def _graphviz():
    try:
        import graphviz
    except ImportError as error:
        raise ImportError(
            "plot_model needs the graphviz Python package and Graphviz's `dot` program; install "
            "them with `pip install dendrite[graph]` and `apt-get install graphviz` (or your "
            "system's Graphviz package)."
        ) from error
    return graphviz


def _shape_text(shapes):
    shapes = [tuple(shape) for shape in shapes]
    return str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=False,
                 rankdir="TB", dpi=200, show_layer_activations=False, show_trainable=False):
    """The model's layer graph as a :class:`graphviz.Digraph` (one box per layer).

    Args are those of :func:`plot_model`. Returns the Digraph (its ``source`` is DOT text; in
    Jupyter it displays as SVG).
    """
    graphviz = _graphviz()
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR'; got rankdir={rankdir!r}")
    graph = model._graph if getattr(model, "_graph", None) is not None else None
    if graph is None:
        raise ValueError(f"plot_model: the model {model.name!r} is not built; give the first "
                         "layer an input shape (or an Input) or call the model on data first")
    dot = graphviz.Digraph(name=model.name, graph_attr={"rankdir": rankdir, "dpi": str(dpi)},
                           node_attr={"shape": "plain", "fontname": "Helvetica"})
    nodes = [t.node for t in model.inputs] + list(graph.nodes)
    ids = {}
    for node in nodes:
        layer = node.layer
        if id(layer) in ids:
            continue
        ids[id(layer)] = f"layer{len(ids)}"
        kind = type(layer).__name__
        title = f"<b>{_escape(layer.name)}</b> ({kind})" if show_layer_names else f"<b>{kind}</b>"
        rows = [f'<tr><td colspan="2" bgcolor="#dbe8f6">{title}</td></tr>']
        if show_shapes:
            in_shapes = [t.shape for t in node.inputs] or [t.shape for t in node.outputs]
            out_shapes = [t.shape for t in node.outputs]
            rows.append(f"<tr><td>Input shape: {_escape(_shape_text(in_shapes))}</td>"
                        f"<td>Output shape: {_escape(_shape_text(out_shapes))}</td></tr>")
        if show_dtype:
            rows.append(f'<tr><td colspan="2">Output dtype: {node.outputs[0].dtype}</td></tr>')
        activation = getattr(layer, "get_config", dict)().get("activation")
        if show_layer_activations and activation:
            rows.append(f'<tr><td colspan="2">Activation: {_escape(str(activation))}</td></tr>')
        if show_trainable:
            rows.append(f'<tr><td colspan="2">Trainable: {"True" if layer.trainable else "False"}'
                        "</td></tr>")
        label = '<<table border="1" cellborder="0" cellpadding="4">' + "".join(rows) + "</table>>"
        dot.node(ids[id(layer)], label=label)
    edges = set()
    for node in graph.nodes:
        for tensor in node.inputs:
            edge = (ids[id(tensor.node.layer)], ids[id(node.layer)])
            if edge not in edges:
                edges.add(edge)
                dot.edge(*edge)
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", dpi=200, show_layer_activations=False,
               show_trainable=False):
    """Draw the model's layers and how they connect into an image file.

    One box per layer (its class, and with the options its name, input and output shapes, dtype,
    activation, trainability), an arrow for each tensor passed between layers.

    Args:
        model: a built Sequential or functional model.
        to_file: the image to write; the format follows the extension (``.png``, ``.svg``,
            ``.pdf``, ``.dot``). Default "model.png".
        show_shapes: write each layer's input and output shapes. Default False.
        show_dtype: write each layer's output dtype. Default False.
        show_layer_names: write each layer's name. Default False.
        rankdir: "TB" draws top to bottom, "LR" left to right. Default "TB".
        dpi: resolution of a bitmap image. Default 200.
        show_layer_activations: write the activation of layers that have one. Default False.
        show_trainable: write whether each layer is trainable. Default False.

    Returns:
        The :class:`graphviz.Digraph` (it displays in Jupyter).

    Raises:
        ImportError: the graphviz package is missing (``pip install dendrite[graph]``).
        RuntimeError: Graphviz's ``dot`` program is missing.
        ValueError: the model is not built, or ``rankdir`` is not "TB" or "LR".
    """
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable)
    path = Path(to_file)
    extension = path.suffix[1:].lower() or "png"
    if extension == "dot":
        path.write_text(dot.source)
        return dot
    graphviz = _graphviz()
    try:
        data = dot.pipe(format=extension)
    except graphviz.ExecutableNotFound as error:
        raise RuntimeError(
            "plot_model: Graphviz's `dot` program was not found; install Graphviz (Debian/Ubuntu: "
            "`apt-get install graphviz`, macOS: `brew install graphviz`) or write a .dot file."
        ) from error
    path.write_bytes(data)
    return dot
