"""``Model``: a graph of layers that trains (Keras's functional API and the base of Sequential)."""

import math

from dendrite import backend, distributed, threads
from dendrite import optimizers as optimizers_module
from dendrite.callbacks import CallbackList, History, ProgbarLogger
from dendrite.errors import arg_error, check_bool, check_number, describe, fraction, shape_error
from dendrite.graph import Graph
from dendrite.layers.base import Layer, check_weight_shapes, unique_name
from dendrite.models import data
from dendrite.models.compiled import CompiledLoss
from dendrite.models.data import Batches, as_list
from dendrite.models.interrupt import DeferredInterrupt
from dendrite.variables import FlatParameters, unique_variables

DEFAULT_BATCH_SIZE = 32


class Model(Layer):
    """A model built from symbolic tensors: ``Model(inputs=Input(...), outputs=layer(...)(x))``.

    A model is also a layer: called on symbolic tensors it becomes one node of another model
    (``outputs = encoder(inputs)``, ``Sequential([base, Dense(10)])``), whose forward and backward
    run this model's graph and whose weights train with the outer model unless
    ``model.trainable = False``.

    Args:
        inputs: a SymbolicTensor from :func:`dendrite.Input`, or a list or dict of them.
        outputs: a SymbolicTensor or a list or dict of them, computed from ``inputs`` by calling
            layers. A dict names the outputs (its keys) for losses, metrics and targets.
        name: the model's name.
        trainable: see :class:`~dendrite.layers.base.Layer`. Default True.

    Example:
        >>> from dendrite import Input, layers
        >>> x = Input(shape=(4,))
        >>> model = Model(x, layers.Dense(2)(x))
        >>> model.count_params()
        10
    """

    _strategy = None  # the dendrite.distributed strategy whose scope is active

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True):
        super().__init__(name=name or unique_name(type(self).__name__.lower()),
                         trainable=trainable)
        self.stop_training = False
        self.optimizer = None
        self.compiled = None
        self.history = None
        self._flat = None
        self._graph = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError(f"{describe(self)}: give both inputs and outputs")
            self._set_graph(inputs, outputs)

    # -------------------------------------------------------------- structure

    def _set_graph(self, inputs, outputs, graph=None):
        """Use ``graph`` (default: the graph from ``inputs`` to ``outputs``); a traced subclassed
        model passes its traced graphs (:class:`dendrite.tracing.CallGraphs`)."""
        self._multi_input = isinstance(inputs, (list, tuple, dict))
        self._multi_output = isinstance(outputs, (list, tuple, dict))
        self.inputs = _tensor_list(inputs, self, "inputs")
        self.outputs = _tensor_list(outputs, self, "outputs")
        self._output_keys = list(outputs) if isinstance(outputs, dict) else None
        self._graph = graph or Graph(self.inputs, self.outputs)
        self._flat = None

    # dtype and built follow the graph (a Model is a Layer, whose __init__ assigns both)
    @property
    def dtype(self):
        """The model's float dtype: its first float input's, else (integer inputs only, e.g. token
        ids) its first output's."""
        if not self._graph:
            return backend.floatx()
        tensors = [*self.inputs, *self.outputs]
        return next((t.dtype for t in tensors if backend.host.dtype(t.dtype).kind == "f"),
                    backend.floatx())

    @property
    def input_dtypes(self):
        """The dtype each input's batches reach the graph in: each ``Input``'s own dtype."""
        return [t.dtype for t in self.inputs]

    @dtype.setter
    def dtype(self, value):
        pass

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freezing (or unfreezing) a model sets every one of its layers, as Keras does: a frozen
        BatchNormalization inside then runs in inference mode."""
        Layer.trainable.fset(self, value)
        for layer in self.layers if getattr(self, "_graph", None) is not None else ():
            layer.trainable = value

    @property
    def input_spec_shape(self):
        """The input's shape without the batch axis (single-input models), else None."""
        graph_inputs = self.inputs if getattr(self, "_graph", None) is not None else []
        return tuple(graph_inputs[0].shape[1:]) if len(graph_inputs) == 1 else None

    @input_spec_shape.setter
    def input_spec_shape(self, value):
        pass

    @property
    def built(self):
        return getattr(self, "_graph", None) is not None

    @built.setter
    def built(self, value):
        pass

    @property
    def input(self):
        """The model's input tensor (a list for several inputs)."""
        self._require_graph("input")
        return list(self.inputs) if self._multi_input else self.inputs[0]

    @property
    def output(self):
        """The model's output tensor (a list for several outputs)."""
        self._require_graph("output")
        return list(self.outputs) if self._multi_output else self.outputs[0]

    def _require_graph(self, what):
        if self._graph is None:
            raise ValueError(f"{describe(self)}: {what} needs a built model; give the first layer "
                             "an input shape (or an Input) or call the model on data first.")

    @property
    def input_names(self):
        return [t.node.layer.name for t in self.inputs]

    def _ensure_graph(self, input_arrays):
        """Functional models are built at construction; Sequential overrides this."""
        if self._graph is None:
            raise ValueError(f"{describe(self)}: the model has no layers to run")

    @property
    def layers(self):
        input_layers = [t.node.layer for t in self.inputs] if self._graph else []
        return input_layers + (self._graph.layers if self._graph else [])

    @property
    def output_names(self):
        """One unique name per output: the dict key, else the producing layer's name (``_1``,
        ``_2`` ... appended when one layer gives several outputs, as Keras does)."""
        if self._output_keys is not None:
            return list(self._output_keys)
        names, counts = [], {}
        for tensor in self.outputs:
            base = tensor.node.layer.name
            count = counts.get(base, 0)
            counts[base] = count + 1
            names.append(base if count == 0 else f"{base}_{count}")
        return names

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or at position ``index`` of :attr:`layers`."""
        if index is not None:
            layers = self.layers
            check_number(describe(self), "index", index, integer=True, low=-len(layers),
                         high=len(layers) - 1,
                         expected=f"an integer in [-{len(layers)}, {len(layers) - 1}]")
            return layers[int(index)]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{describe(self)}: no layer named {name!r}; layers are "
                         f"{[layer.name for layer in self.layers]}")

    @property
    def weights(self):
        return unique_variables(v for layer in self.layers for v in layer.weights)

    @property
    def trainable_weights(self):
        """Every trainable weight of the model's layers; none while the model is frozen."""
        if not self.trainable:
            return []
        return unique_variables(v for layer in self.layers for v in layer.trainable_weights)

    def set_weights(self, weights):
        variables = self.weights
        weights = list(weights)
        if len(weights) != len(variables):
            raise ValueError(f"{describe(self)}: expected {len(variables)} weight arrays; got "
                             f"{len(weights)}.")
        seen, start = set(), 0
        for layer in self.layers:  # check every shape, naming the layer, before assigning any
            own = [v for v in layer.weights if id(v) not in seen]
            seen.update(id(v) for v in own)
            check_weight_shapes(layer, own, weights[start:start + len(own)])
            start += len(own)
        for variable, value in zip(variables, weights):
            variable.assign(value)

    def count_params(self):
        if self._graph is None:
            raise ValueError(f"{describe(self)}: count_params() needs a built model; give the "
                             "first layer an input shape or call the model on data first.")
        return sum(v.size for v in self.weights)

    def summary(self, print_fn=None, line_length=None):
        """Print a table of layers, output shapes and parameter counts (Keras's layout).

        A functional model lists each layer once with a "Connected to" column naming, for every
        call of the layer, the tensors it read as ``layer[node_index][tensor_index]``; a shared
        layer's parameters are counted once. Sequential models omit the column.
        """
        print_fn = print_fn or print
        if self._graph is None:
            raise ValueError(f"{describe(self)}: summary() needs a built model; give the first "
                             "layer an input shape or call the model on data first.")
        connected = not self._hide_input_layer
        line_length = line_length or (110 if connected else 78)
        fractions = (0.3, 0.25, 0.12) if connected else (0.4, 0.33, 0.27)
        widths = [int(line_length * f) for f in fractions]
        widths.append(line_length - sum(widths))
        header = (["Layer (type)", "Output Shape", "Param #"]
                  + (["Connected to"] if connected else []))
        rows = []
        nodes = ([t.node for t in self.inputs] if connected else []) + self._graph.nodes
        calls = {}
        for node in nodes:
            calls.setdefault(id(node.layer), []).append(node)
        for layer_nodes in calls.values():
            layer = layer_nodes[0].layer
            shapes = [t.shape for t in layer_nodes[0].outputs]
            inputs = [f"{t.node.layer.name}[{_node_index(t.node)}][{t.index}]"
                      for node in layer_nodes for t in node.inputs]
            rows.append([f"{layer.name} ({type(layer).__name__})",
                         str(shapes[0] if len(shapes) == 1 else shapes),
                         f"{sum(v.size for v in layer.weights):,}",
                         ", ".join(inputs) or "-"][:len(header)])
        rule = "─" * line_length
        lines = [f'Model: "{self.name}"', rule]
        for i, row in enumerate([header, *rows]):
            cells = [f"{row[0]:<{widths[0] - 1}}", f"{row[1]:<{widths[1] - 1}}",
                     f"{row[2]:>{widths[2] - 1}}"]
            if connected:
                cells.append(f"  {row[3]}")
            lines.append(" ".join(cells).rstrip())
            lines.append("═" * line_length if i == 0 else rule)
        trainable = sum(v.size for v in self.trainable_weights)
        total = self.count_params()
        lines += [f" Total params: {total:,}", f" Trainable params: {trainable:,}",
                  f" Non-trainable params: {total - trainable:,}"]
        print_fn("\n".join(lines))

    _hide_input_layer = False

    # -------------------------------------------------------------- running

    def _prepare_inputs(self, x, who):
        """Host arrays for the inputs, checked against the model's input shapes."""
        if isinstance(x, dict):
            self._require_graph(f"{who} with a dict of inputs")
            x = _by_name(x, self.input_names, self, f"x (in {who})")
        arrays = as_list(data.require_x(x, who), who)
        self._ensure_graph(arrays)
        if len(arrays) != len(self.inputs):
            raise ValueError(f"{describe(self)}: expected {len(self.inputs)} input array(s); got "
                             f"{len(arrays)}.")
        for array, tensor in zip(arrays, self.inputs):
            expected = tensor.shape[1:]
            got = tuple(array.shape[1:])
            if len(got) != len(expected) or any(e is not None and e != g for e, g in
                                                zip(expected, got)):
                first = self._first_layer(tensor)
                raise shape_error(first, "(batch, " + ", ".join(
                    "None" if d is None else str(d) for d in expected) + ")", tuple(array.shape),
                    what=f"input (in {who} of {describe(self)})")
        return arrays

    def _first_layer(self, tensor):
        for node in self._graph.nodes:
            if any(t is tensor for t in node.inputs):
                return node.layer
        return tensor.node.layer

    def __call__(self, x, training=False):
        """On arrays, run the model (no batching) and return an array, or a list (dict) for several
        outputs. On symbolic tensors, record this model as one node of an outer graph."""
        if _symbolic(x):
            return super().__call__(_by_name(x, self.input_names, self, "inputs"))
        arrays = self._prepare_inputs(x, "__call__")
        xp = _weights_module(self)
        arrays = [backend.to_device(a.astype(d, copy=False), xp)
                  for a, d in zip(arrays, self.input_dtypes)]
        return self._structure_outputs(self._graph.forward(arrays, training=training))

    def _structure_outputs(self, outputs):
        if self._output_keys is not None:
            return dict(zip(self._output_keys, outputs))
        return outputs if self._multi_output else outputs[0]

    # -------------------------------------------------------------- a model as a layer

    def build(self, input_shape):
        """Functional models are built when constructed; Sequential overrides this."""

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if len(shapes) != len(self.inputs):
            raise ValueError(f"{describe(self)}: expected {len(self.inputs)} input(s); got "
                             f"{len(shapes)}: {shapes}")
        for shape, tensor in zip(shapes, self.inputs):
            if len(shape) != len(tensor.shape) or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(shape[1:], tensor.shape[1:])):
                raise shape_error(self, str(tensor.shape), tuple(shape))
        batch = shapes[0][0]
        outputs = [(batch, *t.shape[1:]) for t in self.outputs]
        return outputs if len(outputs) > 1 else outputs[0]

    def forward(self, x, training=False):
        """Run the graph on arrays (one, or a list for several inputs), as a layer does."""
        outputs = self._graph.forward(x if len(self.inputs) > 1 else [x], training=training)
        return outputs if len(outputs) > 1 else outputs[0]

    def backward(self, dy, need_dx=True):
        """Backpropagate ``dy`` (a list for several outputs) through the graph; return dx."""
        dys = dy if len(self.outputs) > 1 else [dy]
        dxs = self._graph.backward(dys, need_input_grads=need_dx)
        if not need_dx:
            return None
        dxs = [_zeros_like_input(t, dys) if g is None else g for g, t in zip(dxs, self.inputs)]
        return dxs if len(dxs) > 1 else dxs[0]

    def save_cache(self):
        return self._graph.save_cache()

    def restore_cache(self, cache):
        self._graph.restore_cache(cache)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                strategy=None):
        """Outputs for ``x`` computed batch by batch (default batch 32), in inference mode.

        With a ``dendrite.distributed`` strategy (``strategy`` or the one ``init()`` made), each
        rank computes its rows of every batch and all ranks return the gathered outputs."""
        strategy = distributed.resolve(strategy, "predict")
        if strategy is not None and self._strategy is None:
            with strategy.scope(self):
                return self.predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                                    callbacks=callbacks)
        data.refuse_with_stream("predict", x, batch_size=batch_size)
        batch_size = _batch_size(self, batch_size)
        steps = data.steps_argument("predict", "steps", steps)
        if data.is_batch_source(x):
            return self._predict_stream(x, steps, callbacks)
        arrays = self._prepare_inputs(x, "predict")
        batches = Batches(arrays, self.input_dtypes, batch_size, steps=steps)
        rows = min(batches.size, len(batches) * batches.batch_size)  # ``steps`` may cut it short
        callback_list = CallbackList(callbacks or [], self, {"steps": len(batches)})
        callback_list.on_predict_begin()
        results = None
        xp = _weights_module(self)
        for step, batch in enumerate(threads.StepTuner().iterate(batches)):
            callback_list.on_predict_batch_begin(step)
            outputs = self._forward_batch(_to_device(batch, xp))
            if results is None:
                results = [backend.host.empty((rows, *o.shape[1:]), dtype=o.dtype)
                           for o in outputs]
            start = step * batches.batch_size
            for result, output in zip(results, outputs):
                result[start:start + len(output)] = backend.to_host(output)
            callback_list.on_predict_batch_end(step, {"outputs": outputs})
        callback_list.on_predict_end()
        if results is None:
            results = [backend.host.empty((0, *t.shape[1:]), dtype=self.dtype)
                       for t in self.outputs]
        return self._structure_outputs(results)

    def _predict_stream(self, source, steps, callbacks):
        batches = data.BatchStream(source, steps, data.batch_converter(self, "predict: x", False),
                                   "predict: x")
        callback_list = CallbackList(callbacks or [], self, {"steps": batches.epoch_steps})
        callback_list.on_predict_begin()
        results = [[] for _ in self.outputs] if self._graph else None
        xp = _weights_module(self)
        for step, batch in enumerate(batches):
            callback_list.on_predict_batch_begin(step)
            outputs = self._forward_batch(_to_device(batch, xp))
            results = results or [[] for _ in outputs]
            for result, output in zip(results, outputs):
                result.append(output.copy() if xp is backend.host else backend.to_host(output))
            callback_list.on_predict_batch_end(step, {"outputs": outputs})
        callback_list.on_predict_end()
        return self._structure_outputs([backend.host.concatenate(r) for r in results])

    def _forward_batch(self, xs, training=False):
        """The graph's outputs for one batch, sharded and gathered under a strategy."""
        if self._strategy is not None:
            return self._strategy.forward(self, xs, training=training)
        return self._graph.forward(xs, training=training)

    # -------------------------------------------------------------- training

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None):
        """Configure training: an optimizer, a loss per output, optional loss weights, metrics.

        Args:
            optimizer: name (defaults of that optimizer) or Optimizer. Default "rmsprop".
            loss: name, Loss, or a list/dict with one per output.
            loss_weights: list/dict of floats weighting each output's loss.
            metrics: list of names/Metric objects ("accuracy" resolved from shapes).
        """
        self.optimizer = optimizers_module.get(optimizer)
        names = self.output_names if self._graph else ["output"]
        self.compiled = CompiledLoss(loss, loss_weights, metrics, names)
        self._compile_args = (loss, loss_weights, metrics)

    def _training_setup(self):
        if self.compiled is None:
            raise RuntimeError(f"{describe(self)}: call compile() before fit() or evaluate()")
        if self.compiled.output_names != self.output_names:  # Sequential built after compile
            self.compiled = CompiledLoss(*self._compile_args, self.output_names)
        variables = self.trainable_weights
        trainable = {id(v) for v in variables}
        frozen = [v for v in self.weights if v.grad is not None and id(v) not in trainable]
        if self._flat is None or not self._flat.owns(variables, frozen):
            self._flat = FlatParameters(variables, frozen)
        # The loss of an output made by a single-output node can hand that node its fused
        # pre-activation gradient (the graph passes it as ``logit_grad``).
        self.compiled.fuse([None if t.node.is_input or len(t.node.outputs) > 1 else t.node.layer
                            for t in self.outputs])
        self._regularized = [v for v in variables if v.regularizer is not None]

    def _penalty(self):
        """Weight regularization plus the losses that layers added with ``add_loss``."""
        penalty = sum(v.regularizer(v.value) for v in self._regularized)
        return penalty + sum(float(value) for value in self.losses)

    @property
    def losses(self):
        """Values of the losses added with ``add_loss`` (by this model's traced ``call`` and by
        its layers, once per call of a layer) in the last forward pass."""
        return list(self._graph.loss_values) if self._graph is not None else []

    def compute_gradients(self, xs, ys, sample_weight, training=True):
        """Forward, loss and backward on prepared batch arrays, after :meth:`_training_setup`.

        Leaves d(total loss)/d(weight) in the flat gradient buffer (``self._flat.grads``) and
        returns the total loss as a float; a non-finite loss returns at once, before any backward.
        On a device this float is the step's one read of a device value (the NaN guard).
        """
        self._flat.zero_grads()
        outputs = self._graph.forward(xs, training=training)
        loss = float(self.compiled.forward(ys, outputs, sample_weight, self._penalty(),
                                           self._graph.output_masks))
        if not math.isfinite(loss):
            return loss
        self._graph.backward(*self.compiled.output_gradients())
        for variable in self._regularized:
            variable.grad += variable.regularizer.gradient(variable.value)
        return loss

    def train_on_batch_arrays(self, xs, ys, sample_weight):
        """One optimizer step on prepared batch arrays; returns the batch loss."""
        if self._strategy is not None:
            return self._strategy.train_step(self, xs, ys, sample_weight)
        loss = self.compute_gradients(xs, ys, sample_weight)
        if math.isfinite(loss):
            self.optimizer.step(self._flat)
        return loss

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            strategy=None):
        """Train for ``epochs`` epochs; returns the :class:`~dendrite.callbacks.History`.

        Args follow Keras: ``x`` is an array, a list of arrays, a generator/iterator yielding
        ``(x, y)`` or ``(x, y, sample_weight)`` batches, or a :class:`~dendrite.utils.PyDataset`
        (then ``y`` and ``sample_weight`` stay None and ``batch_size`` is the source's);
        ``batch_size`` None means 32; ``validation_split`` takes the last fraction of the data
        before shuffling; ``validation_data`` is ``(x_val, y_val)``, ``(x_val, y_val,
        sample_weight_val)``, a generator or a PyDataset; ``class_weight`` maps class index to a
        loss weight (single-output models); ``verbose`` is "auto" (1), 0, 1 or 2;
        ``steps_per_epoch`` / ``validation_steps`` bound the batches per epoch (a generator that
        runs dry first ends training with Keras's warning).
        Raises FloatingPointError naming the epoch (and batch) if the loss, the weights after an
        epoch's last update, or the validation loss become NaN or infinite.

        Ctrl-C (KeyboardInterrupt) stops training cleanly: the current batch completes, ``fit``
        warns and returns the history so far (also kept as ``model.history``), and the model
        keeps the weights of the last completed batch (``on_train_end`` is not called, so a
        ``BackupAndRestore`` backup stays). Shuffling draws from ``model.shuffle_generator``,
        created at the first ``fit`` and saved with the model, so a resumed run repeats the order.

        ``strategy`` (default: the one ``dendrite.distributed.init()`` made, if any) trains
        data-parallel over MPI, ``batch_size`` being the global batch; see
        :class:`dendrite.distributed.MPIStrategy`.
        """
        strategy = distributed.resolve(strategy, "fit")
        if strategy is not None and self._strategy is None:
            with strategy.scope(self):
                return self.fit(
                    x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                    callbacks=callbacks, validation_split=validation_split,
                    validation_data=validation_data, shuffle=shuffle, class_weight=class_weight,
                    sample_weight=sample_weight, initial_epoch=initial_epoch,
                    steps_per_epoch=steps_per_epoch, validation_steps=validation_steps)
        epochs = check_number("fit", "epochs", epochs, integer=True, low=1,
                              expected="a positive integer")
        initial_epoch = check_number("fit", "initial_epoch", initial_epoch, integer=True, low=0,
                                     high=epochs - 1,
                                     expected=f"an integer in [0, epochs={epochs})")
        data.refuse_with_stream("fit", x, y=y, sample_weight=sample_weight,
                                batch_size=batch_size)
        batch_size = _batch_size(self, batch_size)
        validation_split = fraction("fit", "validation_split", validation_split)
        steps_per_epoch = data.steps_argument("fit", "steps_per_epoch", steps_per_epoch)
        validation_steps = data.steps_argument("fit", "validation_steps", validation_steps)
        shuffle = check_bool("fit", "shuffle", shuffle)
        if self._graph is not None or self.compiled is None:
            self._training_setup()  # raises if not compiled; a Sequential may build on data
        if data.is_batch_source(x):
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; with a generator or "
                                 "PyDataset pass validation_data; got validation_split="
                                 f"{validation_split}")
            batches = data.BatchStream(x, steps_per_epoch,
                                       data.batch_converter(self, "fit: x", True), "fit: x")
        else:
            xs, ys, weights = data.prepare_arrays(self, x, y, sample_weight, "fit")
            if validation_split and validation_data is None:
                (xs, ys, weights), held_out = data.split_validation(xs, ys, weights,
                                                                     validation_split)
                validation_data = data.array_batches(self, *held_out, batch_size)
            if shuffle and getattr(self, "shuffle_generator", None) is None:
                self.shuffle_generator = backend.make_generator()  # saved with the model
            rng = self.shuffle_generator if shuffle else None
            batches = data.array_batches(self, xs, ys, weights, batch_size, rng, steps_per_epoch)
            self._training_setup()
        if validation_data is not None and not isinstance(validation_data, Batches):
            validation_data = data.validation_batches(self, validation_data, batch_size,
                                                      validation_steps)
        class_weights = data.class_weight_table(class_weight, self) if self._graph else None
        self.history = History()
        if self._strategy is not None:  # only rank 0 prints and writes files
            callbacks, verbose = self._strategy.rank_callbacks(callbacks, verbose)
        callback_list = self._callbacks(callbacks, verbose, epochs, batches.epoch_steps)
        self.stop_training = False
        self._initial_epoch = None
        callback_list.on_train_begin()
        if self._strategy is not None:  # rank 0's (possibly restored) state to every rank
            self._strategy.synchronize(self)
        initial_epoch = self._initial_epoch or initial_epoch  # BackupAndRestore resumes
        n_in, n_out = len(self.inputs) if self._graph else 0, 0
        tuner = threads.StepTuner()  # BLAS threads by measurement (busy machines: issue 13)
        xp = backend.host  # the module of the weights, where batches go: found at each step 0
        with DeferredInterrupt() as interrupt:  # keeps weights and history on Ctrl-C
            for epoch in range(initial_epoch, epochs):
                self.compiled.reset()
                callback_list.on_epoch_begin(epoch)
                steps_done, diverged = 0, None
                for step, batch in enumerate(tuner.iterate(batches)):
                    if not n_in:  # a Sequential built on the first batch of a generator
                        self._training_setup()
                        class_weights = data.class_weight_table(class_weight, self)
                        self.compiled.reset()
                    n_in, n_out = len(self.inputs), len(self.outputs)
                    callback_list.on_train_batch_begin(step)
                    xb, yb, wb = batch[:n_in], batch[n_in:n_in + n_out], batch[-1]
                    if class_weights is not None:
                        wb = data.apply_class_weight(class_weights, yb[0], wb)
                    xp = _weights_module(self) if step == 0 else xp
                    xb, yb, wb = _to_device(xb, xp), _to_device(yb, xp), backend.to_device(wb, xp)
                    loss = self.train_on_batch_arrays(xb, yb, wb)
                    if not math.isfinite(loss):
                        # as in Keras, callbacks see the batch; one that stops training there
                        # (TerminateOnNaN) ends fit normally, otherwise the loss is an error
                        callback_list.on_train_batch_end(
                            step, {**self.compiled.results(), "loss": loss})
                        if not self.stop_training:
                            raise FloatingPointError(
                                f"{describe(self)}: the loss became {loss} at epoch {epoch + 1}, "
                                f"batch {step + 1}; training stopped before applying that update. "
                                "Lower the learning rate or check the data for NaN/inf values.")
                        diverged = loss
                        break
                    callback_list.on_train_batch_end(step, self.compiled.batch_logs())
                    steps_done += 1
                    interrupt.check()  # Ctrl-C: stop after a completed batch
                if diverged is not None:
                    callback_list.on_epoch_end(epoch, {**self.compiled.results(), "loss": diverged})
                    break
                ran_dry = batches.warn_if_dry()  # Keras: log the partial epoch, then stop
                if ran_dry and not steps_done:
                    break
                _check_weights_finite(self, epoch)
                logs = self.compiled.results()
                if validation_data is not None:
                    callback_list.on_test_begin()
                    val_logs = self._evaluate_batches(validation_data, callback_list)
                    callback_list.on_test_end(val_logs)
                    if not math.isfinite(val_logs["loss"]):
                        raise FloatingPointError(
                            f"{describe(self)}: the validation loss became {val_logs['loss']} at "
                            f"epoch {epoch + 1}. Lower the learning rate or check validation_data "
                            "for NaN/inf values.")
                    logs.update({f"val_{key}": value for key, value in val_logs.items()})
                callback_list.on_epoch_end(epoch, logs)
                if self.stop_training or ran_dry:
                    break
        if interrupt.interrupted:
            interrupt.report(self)
            return self.history
        callback_list.on_train_end()
        return self.history

    def _callbacks(self, callbacks, verbose, epochs, steps):
        verbose = 1 if verbose == "auto" else verbose
        if verbose not in (0, 1, 2):
            raise arg_error("fit", "verbose", '"auto", 0, 1 or 2', verbose)
        items = list(callbacks or [])
        if verbose and not any(isinstance(c, ProgbarLogger) for c in items):
            items.append(ProgbarLogger(verbose))
        items.append(self.history)
        return CallbackList(items, self, {"epochs": epochs, "steps": steps, "verbose": verbose})

    def _prepare_targets(self, y, who):
        if y is None:
            raise ValueError(f"{describe(self)}: {who} needs targets y")
        if isinstance(y, dict):
            y = _by_name(y, self.output_names, self, f"y (in {who})")
        ys = as_list(y, who) if self._multi_output else [data.check_array(y, f"{who}: y")]
        if len(ys) != len(self.outputs):
            raise ValueError(f"{describe(self)}: expected {len(self.outputs)} target array(s); got "
                             f"{len(ys)}.")
        return ys

    def _evaluate_batches(self, batches, callback_list=None):
        """Loss and metrics over ``batches`` (rows ``[*xs, *ys, sample_weight]``)."""
        self.compiled.reset()
        xp = backend.host  # the module of the weights, where batches go: found at step 0
        for step, batch in enumerate(threads.StepTuner().iterate(batches)):
            if self._flat is None:  # a Sequential built by the first batch of a generator
                self._training_setup()
            n_in, n_out = len(self.inputs), len(self.outputs)
            if callback_list is not None:
                callback_list.on_test_batch_begin(step)
            xp = _weights_module(self) if step == 0 else xp
            batch = _to_device(batch, xp)
            outputs = self._forward_batch(batch[:n_in])
            self.compiled.forward(batch[n_in:n_in + n_out], outputs, batch[-1], self._penalty(),
                                  self._graph.output_masks)
            if callback_list is not None:
                callback_list.on_test_batch_end(step, self.compiled.batch_logs())
        if self.compiled.count == 0:
            raise ValueError(f"{describe(self)}: validation_data ran out of data before this "
                             "epoch's validation; give validation_steps with a generator that "
                             "repeats, or a PyDataset")
        return self.compiled.results()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, strategy=None):
        """Loss and metrics on ``(x, y)``: a float if there are no metrics, else ``[loss, ...]``
        (a dict with ``return_dict=True``). ``x`` may also be a generator or PyDataset yielding
        ``(x, y)`` or ``(x, y, sample_weight)`` batches, ``steps`` of them (default: all).
        With a ``dendrite.distributed`` strategy each rank computes its rows of every batch;
        every rank returns the same values."""
        strategy = distributed.resolve(strategy, "evaluate")
        if strategy is not None and self._strategy is None:
            with strategy.scope(self):
                return self.evaluate(x, y, batch_size=batch_size, verbose=verbose,
                                     sample_weight=sample_weight, steps=steps,
                                     callbacks=callbacks, return_dict=return_dict)
        data.refuse_with_stream("evaluate", x, y=y, sample_weight=sample_weight,
                                batch_size=batch_size)
        batch_size = _batch_size(self, batch_size)
        steps = data.steps_argument("evaluate", "steps", steps)
        if self._graph is not None or self.compiled is None:
            self._training_setup()
        if data.is_batch_source(x):
            batches = data.BatchStream(x, steps, data.batch_converter(self, "evaluate: x", True),
                                       "evaluate: x")
        else:
            xs, ys, weights = data.prepare_arrays(self, x, y, sample_weight, "evaluate")
            batches = data.array_batches(self, xs, ys, weights, batch_size, steps=steps)
            self._training_setup()
        callback_list = CallbackList(callbacks or [], self, {})
        callback_list.on_test_begin()
        logs = self._evaluate_batches(batches, callback_list)
        callback_list.on_test_end(logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values


    # -------------------------------------------------------------- saving (dendrite.saving)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Save to a Keras 3 ``.keras`` file, atomically; see :func:`dendrite.saving.save_model`."""
        from dendrite.saving.archive import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Weights and optimizer state to ``.weights.h5`` (Keras's layout) or ``.safetensors``."""
        from dendrite.saving.archive import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Load ``.weights.h5``, ``.safetensors`` or ``.keras`` weights; shapes checked first."""
        from dendrite.saving.archive import load_weights

        load_weights(self, filepath)

    # -------------------------------------------------------------- config (models/config.py)

    def get_config(self):
        """The model's config in Keras 3's schema: its layers, their calls, inputs and outputs."""
        from dendrite.models import config

        return config.get_config(self)

    @classmethod
    def from_config(cls, config):
        """A new model (fresh weights) from :meth:`get_config`'s output, dendrite's or Keras's."""
        from dendrite.models import config as model_config

        return model_config.model_from_inner_config(cls, config)

    def to_json(self, **kwargs):
        """The model in Keras 3's serialized form as JSON (``kwargs`` go to ``json.dumps``);
        :func:`dendrite.models.model_from_json` reads it back."""
        from dendrite.models import config

        return config.to_json(self, **kwargs)


def _batch_size(model, batch_size):
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    return check_number(describe(model), "batch_size", batch_size, integer=True, low=1,
                        expected="a positive integer or None")


def _check_weights_finite(model, epoch):
    """After an epoch's last update: every trainable weight must still be finite."""
    values = model._flat.values if model._flat is not None else None
    if values is not None and values.size and not bool(
            backend.get_array_module(values).isfinite(values).all()):
        bad = [v.name for v in model.trainable_weights
               if not bool(backend.get_array_module(v.value).isfinite(v.value).all())]
        raise FloatingPointError(
            f"{describe(model)}: weights became NaN or infinite at the end of epoch {epoch + 1} "
            f"({', '.join(bad)}). Lower the learning rate or check the data for NaN/inf values.")


def _weights_module(model):
    """The array module of the model's weights (the backend it was built with; host if none):
    batches are moved there once, before the step."""
    weights = model.weights if model._graph is not None else []
    return backend.get_array_module(weights[0].value) if weights else backend.host


def _to_device(arrays, xp):
    """The batch ``arrays`` (None entries kept) in array module ``xp``; no copy on the host."""
    if xp is backend.host:
        return arrays
    return [backend.to_device(a, xp) for a in arrays]


def _node_index(node):
    """The position of ``node`` among its layer's calls (Keras's node index)."""
    for index, candidate in enumerate(node.layer._inbound_nodes):
        if candidate is node:
            return index
    return 0


def _symbolic(x):
    from dendrite.graph import is_symbolic

    return is_symbolic(list(x.values()) if isinstance(x, dict) else x)


def _tensor_list(tensors, model, what):
    """The tensors of ``inputs``/``outputs`` (one, a list or a dict) as a list."""
    items = list(tensors.values()) if isinstance(tensors, dict) else (
        list(tensors) if isinstance(tensors, (list, tuple)) else [tensors])
    from dendrite.graph import SymbolicTensor

    for item in items:
        if not isinstance(item, SymbolicTensor):
            raise TypeError(f"{describe(model)}: {what} must be symbolic tensors (from Input(...) "
                            f"and layer calls); got {type(item).__name__}")
    return items


def _by_name(values, names, model, what):
    """``values`` as a list in the order of ``names`` when it is a dict keyed by them."""
    if not isinstance(values, dict):
        return values
    unknown = sorted(set(values) - set(names))
    missing = [name for name in names if name not in values]
    if unknown or missing:
        raise ValueError(f"{describe(model)}: {what} given as a dict must have exactly the keys "
                         f"{names}; got {sorted(values)}")
    items = [values[name] for name in names]
    return items if len(items) > 1 else items[0]


def _zeros_like_input(tensor, dys):
    reference = next(dy for dy in dys if dy is not None)
    xp = backend.get_array_module(reference)
    return xp.zeros((reference.shape[0], *tensor.shape[1:]), dtype=reference.dtype)
