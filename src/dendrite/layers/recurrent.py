"""Recurrent layers: SimpleRNN, LSTM, GRU, and the wrappers Bidirectional and TimeDistributed.

Backpropagation through time is written out. A forward pass

1. puts the sequence time-major, (timesteps, batch, features), reversed for ``go_backwards``;
2. projects every timestep at once: ``xw = x @ kernel + bias``, one matrix product;
3. loops over time, each step calling a kernel of :mod:`dendrite.recurrent_kernels` that adds the
   recurrent product ``h_{t-1} @ recurrent_kernel`` and does the gate arithmetic in place, into
   buffers allocated once per sequence (the states of every step and the gates backward needs).

Backward loops over time in reverse with the matching step kernels, which leave the gradient of each
step's pre-activations in one (timesteps, batch, gates) buffer; the kernel, recurrent kernel and
bias gradients are then matrix products over all steps at once, as is the input gradient.

Masks (from ``Embedding(mask_zero=True)``, ``Masking`` or ``mask=``) have shape (batch, timesteps),
True where a step is real. A masked step carries the states through unchanged; its output is the
previous output (zeros before the first real step), or zeros with ``zero_output_for_mask=True``,
as in Keras.
"""

from dendrite import activations, backend, initializers, regularizers
from dendrite.errors import (
    arg_error,
    check_bool,
    describe,
    fraction,
    positive_int,
    seed_value,
    shape_error,
)
from dendrite.graph import is_symbolic
from dendrite.kernels import dropout_mask, to_device_like
from dendrite.layers.base import Layer
from dendrite.recurrent_kernels import (
    gru_step_backward,
    gru_step_forward,
    lstm_fast_path,
    lstm_step_backward,
    lstm_step_forward,
    simple_rnn_step_backward,
    simple_rnn_step_forward,
)


def _check_activation(owner, argument, identifier):
    """An Activation whose derivative is a function of its output (what the step kernels use)."""
    activation = activations.get(identifier)
    if activation.needs != "y" or activation.name in ("softmax", "log_softmax"):
        raise arg_error(owner, argument, "an element-wise activation whose derivative follows from "
                        "its output ('tanh', 'sigmoid', 'relu' or 'linear')", identifier)
    return activation


def _call_with_states(layer, inputs, initial_state, training, mask):
    """``layer(inputs, initial_state=..., mask=...)``: the states join the inputs of the call (a
    multi-input node in a graph); an eager ``mask`` goes to ``forward``."""
    if initial_state is not None:
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [
            initial_state]
        inputs = [inputs, *states]
    if mask is None:
        return Layer.__call__(layer, inputs, training=training)
    if is_symbolic(inputs):
        raise TypeError(f"{describe(layer)}: mask= applies to eager calls on arrays; in a model "
                        "the mask comes from Embedding(mask_zero=True) or Masking")
    inputs = layer._to_arrays(inputs)
    layer.ensure_built([tuple(a.shape) for a in inputs] if isinstance(inputs, list)
                       else tuple(inputs.shape))
    return layer.forward(inputs, training=training, mask=mask)


class BaseRNN(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, input checks, masks, states, BPTT plumbing.

    Subclasses set ``gate_count`` (kernel columns per unit) and ``state_names``, and write
    ``_run_forward`` / ``_run_backward`` (the loop over time).

    Args:
        units: positive int, dimensionality of the output and of each state.
        activation: name or Activation (``needs == "y"``: tanh, sigmoid, relu, linear).
        use_bias: add a learned bias. Default True.
        kernel_initializer: default "glorot_uniform". recurrent_initializer: default "orthogonal".
        bias_initializer: default "zeros".
        kernel_regularizer, recurrent_regularizer, bias_regularizer: name or Regularizer, or None.
        dropout: fraction in [0, 1) of the input features dropped in training (one mask per
            sequence, shared by all timesteps). Default 0.
        recurrent_dropout: fraction in [0, 1) of the previous output dropped before the recurrent
            product in training (one mask per sequence). Default 0.
        seed: int or None, seed of the dropout masks.
        return_sequences: return the output of every timestep (batch, timesteps, units) instead of
            the last one (batch, units). Default False.
        return_state: also return the final states: ``[output, *states]``. Default False.
        go_backwards: process the sequence in reverse and return the outputs in that (reversed)
            order. Default False.
        stateful: the final states of a batch are the initial states of the next (the batch size
            must then stay fixed); :meth:`reset_states` sets them to zeros. Default False.
        unroll: accepted for Keras compatibility; the loop is never unrolled. Default False.
        zero_output_for_mask: a masked step outputs zeros instead of the previous output. Default
            False (``Bidirectional`` sets it to ``return_sequences``, as Keras does).
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Call arguments: ``layer(x, initial_state=[h, ...])`` gives the initial states (a list with one
    (batch, units) array per state; by default zeros); in a graph they become inputs of the node,
    so their gradients flow back. ``mask=`` (eager calls) is a (batch, timesteps) boolean array.

    Input shape:  (batch, timesteps, features)
    Output shape: (batch, timesteps, units) with ``return_sequences``, else (batch, units); with
        ``return_state`` a list ``[output, state, ...]``, each state (batch, units).
    """

    gate_count = 1
    state_names = ("h",)
    cache_attributes = ("_cache",)
    supports_masking = True

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(self, "units", units)
        self.activation = _check_activation(self, "activation", activation)
        self.use_bias = check_bool(self, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = fraction(self, "dropout", dropout)
        self.recurrent_dropout = fraction(self, "recurrent_dropout", recurrent_dropout)
        self.seed = seed_value(self, seed)
        self._rng = backend.make_generator(self.seed)
        self.return_sequences = check_bool(self, "return_sequences", return_sequences)
        self.return_state = check_bool(self, "return_state", return_state)
        self.go_backwards = check_bool(self, "go_backwards", go_backwards)
        self.stateful = check_bool(self, "stateful", stateful)
        self.unroll = check_bool(self, "unroll", unroll)
        self.zero_output_for_mask = check_bool(self, "zero_output_for_mask", zero_output_for_mask)
        self.states = None
        self._cache = None

    # -------------------------------------------------------------- calling

    def __call__(self, inputs, initial_state=None, training=False, mask=None):
        """Call on a tensor or array; ``initial_state`` becomes extra inputs of the call."""
        return _call_with_states(self, inputs, initial_state, training, mask)

    def reset_states(self):
        """Set the carried states of a ``stateful`` layer to zeros (Keras's ``reset_states``)."""
        self.states = None

    # -------------------------------------------------------------- shapes and weights

    def _split_shapes(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        x_shape = tuple(shapes[0])
        if len(x_shape) != 3:
            raise shape_error(self, "(batch, timesteps, features)", x_shape)
        return x_shape, shapes[1:]

    def build(self, input_shape):
        x_shape, state_shapes = self._split_shapes(input_shape)
        if x_shape[-1] is None:
            raise shape_error(self, "(batch, timesteps, features) with known features", x_shape)
        self._check_state_shapes(state_shapes, x_shape[0])
        width = self.gate_count * self.units
        self.kernel = self.add_weight("kernel", (x_shape[-1], width), self.kernel_initializer,
                                      self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer,
                                                self.recurrent_regularizer)
        self.bias = (self.add_weight("bias", self._bias_shape(), self.bias_initializer,
                                     self.bias_regularizer) if self.use_bias else None)

    def _bias_shape(self):
        return (self.gate_count * self.units,)

    def _check_state_shapes(self, shapes, batch):
        if not shapes:
            return
        if len(shapes) != len(self.state_names):
            names = ", ".join(self.state_names)
            raise ValueError(f"{describe(self)}: initial_state must be a list of "
                             f"{len(self.state_names)} array(s) ({names}); got {len(shapes)}.")
        for k, shape in enumerate(shapes):
            shape = tuple(shape)
            if len(shape) != 2 or shape[1] != self.units or (
                    batch is not None and shape[0] is not None and shape[0] != batch):
                raise shape_error(self, f"({'batch' if batch is None else batch}, {self.units})",
                                  shape, what=f"initial_state[{k}]")

    def compute_output_shape(self, input_shape):
        x_shape, state_shapes = self._split_shapes(input_shape)
        self._check_state_shapes(state_shapes, x_shape[0])
        batch, timesteps = x_shape[0], x_shape[1]
        output = (batch, timesteps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * len(self.state_names)
        return output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_names)
        return output_mask

    # -------------------------------------------------------------- forward

    def forward(self, inputs, training=False, mask=None):
        x, given_states = (inputs[0], list(inputs[1:])) if isinstance(inputs, list) else (
            inputs, [])
        if isinstance(mask, list):
            mask = mask[0]
        if x.ndim != 3 or x.shape[-1] != self.kernel.shape[0]:
            raise shape_error(self, f"(batch, timesteps, {self.kernel.shape[0]})", tuple(x.shape))
        batch, timesteps, features = x.shape
        xp = backend.get_array_module(x)
        self._check_state_shapes([s.shape for s in given_states], batch)
        states0 = self._initial_states(given_states, batch, xp)
        x_tm = x.transpose(1, 0, 2)
        if self.go_backwards:
            x_tm = x_tm[::-1]
        x_tm = xp.ascontiguousarray(x_tm)
        input_mask = None
        if training and self.dropout > 0:
            input_mask = to_device_like(
                dropout_mask(backend.random_stream(self._rng, x), (batch, features), self.dropout,
                             self.dtype), x)
            x_tm *= input_mask
        recurrent_mask = None
        if training and self.recurrent_dropout > 0:
            recurrent_mask = to_device_like(
                dropout_mask(backend.random_stream(self._rng, x), (batch, self.units),
                             self.recurrent_dropout, self.dtype), x)
        step_mask = self._step_mask(mask, batch, timesteps, xp)
        # the input projection of every step at once: (T*B, F) @ (F, G*u)
        kernel, input_bias = self._projection()
        xw = x_tm.reshape(timesteps * batch, features) @ kernel
        if input_bias is not None:
            xw += input_bias
        xw = xw.reshape(timesteps, batch, -1)
        h_seq, final_states = self._run_forward(xw, states0, step_mask, recurrent_mask)
        output_mask = None
        if step_mask is not None:
            # previous output: zeros until the first real step, then the carried h
            output_mask = step_mask if self.zero_output_for_mask else (
                xp.cumsum(step_mask, axis=0) > 0).astype(self.dtype)
        if self.return_sequences:
            sequence = h_seq[1:] if output_mask is None else h_seq[1:] * output_mask
            output = xp.ascontiguousarray(sequence.transpose(1, 0, 2))
        else:
            output = h_seq[timesteps] if output_mask is None else (
                h_seq[timesteps] * output_mask[timesteps - 1])
        if self.stateful:
            self.states = [s.copy() for s in final_states]
        self._cache = {"x_tm": x_tm, "input_mask": input_mask, "recurrent_mask": recurrent_mask,
                       "step_mask": step_mask, "output_mask": output_mask,
                       "given_states": len(given_states), "shape": (batch, timesteps, features),
                       **self._cache_extra}
        if self.return_state:
            return [output, *final_states]
        return output

    def _initial_states(self, given, batch, xp):
        if given:
            return [xp.asarray(s, dtype=self.dtype) for s in given]
        if self.stateful and self.states is not None:
            if self.states[0].shape[0] != batch:
                raise ValueError(
                    f"{describe(self)}: a stateful layer needs the same batch size in every call "
                    f"(call reset_states() to start over); expected {self.states[0].shape[0]}, "
                    f"got {batch}.")
            return self.states
        return [xp.zeros((batch, self.units), dtype=self.dtype) for _ in self.state_names]

    def _step_mask(self, mask, batch, timesteps, xp):
        """The mask as (timesteps, batch, 1) floats in processing order, or None."""
        if mask is None:
            return None
        mask = xp.asarray(mask)
        if tuple(mask.shape) != (batch, timesteps):
            raise shape_error(self, f"({batch}, {timesteps})", tuple(mask.shape), what="mask")
        step_mask = mask.T[:, :, None].astype(self.dtype)
        return xp.ascontiguousarray(step_mask[::-1] if self.go_backwards else step_mask)

    def _input_bias_value(self):
        return None if self.bias is None else self.bias.value

    def _to_internal(self, columns):
        """Gate columns (last axis) in the order the step kernels use: Keras's, unless a cell
        reorders them."""
        return columns

    def _from_internal(self, columns):
        return columns

    def _projection(self):
        """(kernel, bias) of the input projection as the step kernels expect them."""
        return self.kernel.value, self._input_bias_value()

    def _input_bias_grad(self):
        return None if self.bias is None else self.bias.grad

    # -------------------------------------------------------------- backward

    def backward(self, dy, need_dx=True):
        cache = self._cache
        batch, timesteps, features = cache["shape"]
        dys = dy if self.return_state else [dy]
        d_output, d_final = dys[0], list(dys[1:])
        xp = backend.get_array_module(d_output)
        output_mask = cache["output_mask"]
        carries = [xp.array(d, dtype=d_output.dtype) if d is not None else
                   xp.zeros((batch, self.units), dtype=d_output.dtype) for d in
                   (d_final or [None] * len(self.state_names))]
        if self.return_sequences:
            dh_seq = xp.ascontiguousarray(d_output.transpose(1, 0, 2))
            if output_mask is not None:
                dh_seq *= output_mask
        else:  # only the last step's output is used: its gradient joins the final h's
            dh_seq = None
            carries[0] += d_output if output_mask is None else (
                d_output * output_mask[timesteps - 1])
        dxw, d_states0 = self._run_backward(dh_seq, carries, cache["step_mask"],
                                            cache["recurrent_mask"])
        dxw2 = dxw.reshape(timesteps * batch, -1)
        x2 = cache["x_tm"].reshape(timesteps * batch, features)
        self.kernel.grad += self._from_internal(x2.T @ dxw2)  # dW = X^T dZ over all steps
        bias_grad = self._input_bias_grad()
        if bias_grad is not None:
            bias_grad += self._from_internal(xp.ones(dxw2.shape[0], dtype=dxw2.dtype) @ dxw2)
        dx = None
        if need_dx:
            kernel = self._to_internal(self.kernel.value)
            dx_tm = (dxw2 @ kernel.T).reshape(timesteps, batch, features)
            if cache["input_mask"] is not None:
                dx_tm *= cache["input_mask"]
            if self.go_backwards:
                dx_tm = dx_tm[::-1]
            dx = xp.ascontiguousarray(dx_tm.transpose(1, 0, 2))
        if cache["given_states"]:
            return [dx, *d_states0]
        return dx

    # -------------------------------------------------------------- config

    def get_config(self):
        config = {**super().get_config(), "units": self.units,
                  "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                  "kernel_initializer": initializers.serialize(self.kernel_initializer),
                  "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer),
                  "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                  "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                  "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                  "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                  "seed": self.seed, "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards,
                  "stateful": self.stateful, "unroll": self.unroll,
                  "zero_output_for_mask": self.zero_output_for_mask}
        return config


def _carry_masked(new, previous, mask_t):
    """new <- previous where the step is masked (mask_t is (batch, 1) of 0/1)."""
    if mask_t is not None:
        new -= previous
        new *= mask_t
        new += previous


def _split_masked(grad, mask_t):
    """Split d(loss)/d(state_t) of a masked step: returns the part passed straight to t-1 and
    leaves in ``grad`` the part reaching the cell."""
    if mask_t is None:
        return None
    passed = grad * (1 - mask_t)
    grad *= mask_t
    return passed


class SimpleRNN(BaseRNN):
    """Fully connected recurrent layer: h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel
    + bias); the output is h_t.

    Args: see :class:`BaseRNN` (``activation`` default "tanh").

    Attributes:
        kernel: (features, units). recurrent_kernel: (units, units). bias: (units,) or None.

    Input shape:  (batch, timesteps, features)
    Output shape: (batch, timesteps, units) with return_sequences, else (batch, units).

    Example:
        >>> SimpleRNN(4).compute_output_shape((None, 10, 3))
        (None, 4)
    """

    def _run_forward(self, xw, states0, step_mask, recurrent_mask):
        xp = backend.get_array_module(xw)
        timesteps, batch, _ = xw.shape
        h_seq = xp.empty((timesteps + 1, batch, self.units), dtype=xw.dtype)
        h_seq[0] = states0[0]
        recurrent_kernel = self.recurrent_kernel.value
        for t in range(timesteps):
            h_prev = h_seq[t] if recurrent_mask is None else h_seq[t] * recurrent_mask
            h = simple_rnn_step_forward(xw[t], h_prev, recurrent_kernel, self.activation)
            _carry_masked(h, h_seq[t], None if step_mask is None else step_mask[t])
            h_seq[t + 1] = h
        # xw now holds the pre-mask h of every step, which backward reads
        self._cache_extra = {"h_seq": h_seq, "activated": xw}
        return h_seq, [h_seq[timesteps]]

    def _run_backward(self, dh_seq, carries, step_mask, recurrent_mask):
        xp = backend.get_array_module(carries[0])
        cache = self._cache
        h_seq, activated = cache["h_seq"], cache["activated"]
        timesteps, units = len(h_seq) - 1, self.units
        dz = xp.empty_like(activated)
        dh = carries[0]
        dh_prev = xp.empty_like(dh)
        recurrent_kernel_t = xp.ascontiguousarray(self.recurrent_kernel.value.T)
        for t in range(timesteps - 1, -1, -1):
            if dh_seq is not None:
                dh += dh_seq[t]
            passed = _split_masked(dh, None if step_mask is None else step_mask[t])
            simple_rnn_step_backward(dh, activated[t], recurrent_kernel_t, self.activation,
                                     dz[t], dh_prev)
            if recurrent_mask is not None:
                dh_prev *= recurrent_mask
            if passed is not None:
                dh_prev += passed
            dh, dh_prev = dh_prev, dh
        h_in = h_seq[:timesteps] if recurrent_mask is None else h_seq[:timesteps] * recurrent_mask
        self.recurrent_kernel.grad += (h_in.reshape(-1, units).T
                                       @ dz.reshape(-1, units))  # dR = sum_t h_{t-1}^T dz_t
        return dz, [dh]


class LSTM(BaseRNN):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997) with Keras's gate order i, f, c, o:

        z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias       (columns [i | f | c | o])
        i = rec_act(z_i), f = rec_act(z_f), g = act(z_c), o = rec_act(z_o)
        c_t = f * c_{t-1} + i * g;   h_t = o * act(c_t)

    Weights load from Keras unchanged; PyTorch's ``nn.LSTM`` orders the gates i, f, g, o too and
    stores ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T`` and two biases that add up.

    Args:
        units, activation (default "tanh"), ...: see :class:`BaseRNN`.
        recurrent_activation: the gate activation. Default "sigmoid".
        unit_forget_bias: initialize the forget gate's bias to 1 (Jozefowicz et al., 2015).
            Default True.

    Attributes:
        kernel: (features, 4 units). recurrent_kernel: (units, 4 units). bias: (4 units,) or None.

    Input shape:  (batch, timesteps, features)
    Output shape: (batch, timesteps, units) with return_sequences, else (batch, units); with
        return_state ``[output, h, c]``.

    Example:
        >>> LSTM(8, return_state=True).compute_output_shape((None, 5, 3))
        [(None, 8), (None, 8), (None, 8)]
    """

    gate_count = 4
    state_names = ("h", "c")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = _check_activation(self, "recurrent_activation",
                                                      recurrent_activation)
        self.unit_forget_bias = check_bool(self, "unit_forget_bias", unit_forget_bias)

    def build(self, input_shape):
        super().build(input_shape)
        u = self.units
        if self.bias is not None and self.unit_forget_bias:
            self.bias.value[u:2 * u] = 1
        # the step kernels keep the gates as i, f, o, g: the sigmoid gates side by side
        host = backend.host
        self._order = host.concatenate([host.arange(2 * u), host.arange(3 * u, 4 * u),
                                        host.arange(2 * u, 3 * u)])
        self._inverse = host.argsort(self._order)
        self._fast = lstm_fast_path(self.activation, self.recurrent_activation)
        self._gate_scale = host.ones(4 * u, dtype=self.dtype)
        if self._fast:
            self._gate_scale[:3 * u] = 0.5  # sigmoid(z) = (1 + tanh(z / 2)) / 2

    def _to_internal(self, columns):
        return columns[..., backend.device_constant(self._order, columns)]

    def _from_internal(self, columns):
        return columns[..., backend.device_constant(self._inverse, columns)]

    def _scaled(self, columns):
        if self._fast:
            columns *= backend.device_constant(self._gate_scale, columns)
        return columns

    def _projection(self):
        bias = None if self.bias is None else self._scaled(self._to_internal(self.bias.value))
        return self._scaled(self._to_internal(self.kernel.value)), bias

    def _run_forward(self, xw, states0, step_mask, recurrent_mask):
        xp = backend.get_array_module(xw)
        timesteps, batch, _ = xw.shape
        shape = (timesteps + 1, batch, self.units)
        h_seq, c_seq = xp.empty(shape, dtype=xw.dtype), xp.empty(shape, dtype=xw.dtype)
        tanh_c = xp.empty((timesteps, batch, self.units), dtype=xw.dtype)
        h_seq[0], c_seq[0] = states0
        recurrent_kernel = self._scaled(self._to_internal(self.recurrent_kernel.value))
        scratch = xp.empty_like(xw[0])
        for t in range(timesteps):
            h_prev = h_seq[t] if recurrent_mask is None else h_seq[t] * recurrent_mask
            lstm_step_forward(xw[t], h_prev, c_seq[t], recurrent_kernel, c_seq[t + 1], tanh_c[t],
                              h_seq[t + 1], self.activation, self.recurrent_activation, scratch)
            if step_mask is not None:
                _carry_masked(h_seq[t + 1], h_seq[t], step_mask[t])
                _carry_masked(c_seq[t + 1], c_seq[t], step_mask[t])
        self._cache_extra = {"h_seq": h_seq, "c_seq": c_seq, "tanh_c": tanh_c, "gates": xw}
        return h_seq, [h_seq[timesteps], c_seq[timesteps]]

    def _run_backward(self, dh_seq, carries, step_mask, recurrent_mask):
        xp = backend.get_array_module(carries[0])
        cache = self._cache
        h_seq, c_seq = cache["h_seq"], cache["c_seq"]
        tanh_c, gates = cache["tanh_c"], cache["gates"]
        timesteps, units = len(h_seq) - 1, self.units
        dgates = xp.empty_like(gates)
        dh, dc = carries
        dh_prev = xp.empty_like(dh)
        recurrent_kernel_t = xp.ascontiguousarray(
            self._to_internal(self.recurrent_kernel.value).T)
        for t in range(timesteps - 1, -1, -1):
            if dh_seq is not None:
                dh += dh_seq[t]
            mask_t = None if step_mask is None else step_mask[t]
            passed_h = _split_masked(dh, mask_t)
            passed_c = _split_masked(dc, mask_t)
            lstm_step_backward(dh, dc, gates[t], c_seq[t], tanh_c[t], recurrent_kernel_t,
                               dgates[t], dh_prev, self.activation, self.recurrent_activation)
            if recurrent_mask is not None:
                dh_prev *= recurrent_mask
            if passed_h is not None:
                dh_prev += passed_h
                dc += passed_c
            dh, dh_prev = dh_prev, dh
        h_in = h_seq[:timesteps] if recurrent_mask is None else h_seq[:timesteps] * recurrent_mask
        self.recurrent_kernel.grad += self._from_internal(h_in.reshape(-1, units).T
                                                          @ dgates.reshape(-1, 4 * units))
        return dgates, [dh, dc]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRU(BaseRNN):
    """Gated recurrent unit (Cho et al., 2014) with Keras's gate order z, r, h:

        z = rec_act(x_t W_z + h_{t-1} R_z + b_z);  r = rec_act(x_t W_r + h_{t-1} R_r + b_r)
        reset_after=True:   hh = act(x_t W_h + b_h + r * (h_{t-1} R_h + b'_h))
        reset_after=False:  hh = act(x_t W_h + b_h + (r * h_{t-1}) R_h)
        h_t = z * h_{t-1} + (1 - z) * hh

    ``reset_after=True`` (Keras 3's default) is PyTorch's ``nn.GRU`` formulation; its bias is
    (2, 3 units): row 0 is added to the input projection, row 1 to the recurrent one (PyTorch's
    ``bias_ih`` and ``bias_hh``, gates reordered r, z, n).

    Args:
        units, activation (default "tanh"), ...: see :class:`BaseRNN`. With
            ``recurrent_dropout`` the dropped h_{t-1} replaces h_{t-1} everywhere in the step,
            the update ``z * h_{t-1}`` included (Keras's GRUCell).
        recurrent_activation: the gate activation. Default "sigmoid".
        reset_after: apply the reset gate after the recurrent product. Default True.

    Attributes:
        kernel: (features, 3 units). recurrent_kernel: (units, 3 units).
        bias: (2, 3 units) with reset_after, else (3 units,); or None.

    Input shape:  (batch, timesteps, features)
    Output shape: (batch, timesteps, units) with return_sequences, else (batch, units).

    Example:
        >>> GRU(8).compute_output_shape((None, 5, 3))
        (None, 8)
    """

    gate_count = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = _check_activation(self, "recurrent_activation",
                                                      recurrent_activation)
        self.reset_after = check_bool(self, "reset_after", reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias_value(self):
        if self.bias is None:
            return None
        return self.bias.value[0] if self.reset_after else self.bias.value

    def _input_bias_grad(self):
        if self.bias is None:
            return None
        return self.bias.grad[0] if self.reset_after else self.bias.grad

    def _run_forward(self, xw, states0, step_mask, recurrent_mask):
        xp = backend.get_array_module(xw)
        timesteps, batch, _ = xw.shape
        h_seq = xp.empty((timesteps + 1, batch, self.units), dtype=xw.dtype)
        recurrent = xp.empty_like(xw)
        h_seq[0] = states0[0]
        recurrent_kernel = self.recurrent_kernel.value
        recurrent_bias = self.bias.value[1] if self.bias is not None and self.reset_after else None
        for t in range(timesteps):
            h_prev = h_seq[t] if recurrent_mask is None else h_seq[t] * recurrent_mask
            gru_step_forward(xw[t], recurrent[t], h_prev, recurrent_kernel, recurrent_bias,
                             h_seq[t + 1], self.activation, self.recurrent_activation,
                             self.reset_after)
            if step_mask is not None:
                _carry_masked(h_seq[t + 1], h_seq[t], step_mask[t])
        self._cache_extra = {"h_seq": h_seq, "gates": xw, "recurrent": recurrent}
        return h_seq, [h_seq[timesteps]]

    def _run_backward(self, dh_seq, carries, step_mask, recurrent_mask):
        xp = backend.get_array_module(carries[0])
        cache = self._cache
        h_seq, gates, recurrent = cache["h_seq"], cache["gates"], cache["recurrent"]
        timesteps, units = len(h_seq) - 1, self.units
        dgates = xp.empty_like(gates)
        drecurrent = xp.empty_like(gates) if self.reset_after else None
        dh = carries[0]
        dh_prev = xp.empty_like(dh)
        recurrent_kernel_t = xp.ascontiguousarray(self.recurrent_kernel.value.T)
        # the h_{t-1} each step read: dropped by the recurrent mask, if any
        h_in = h_seq[:timesteps] if recurrent_mask is None else h_seq[:timesteps] * recurrent_mask
        for t in range(timesteps - 1, -1, -1):
            if dh_seq is not None:
                dh += dh_seq[t]
            passed = _split_masked(dh, None if step_mask is None else step_mask[t])
            gru_step_backward(dh, gates[t], recurrent[t], h_in[t], recurrent_kernel_t, dgates[t],
                              None if drecurrent is None else drecurrent[t], dh_prev,
                              self.activation, self.recurrent_activation, self.reset_after)
            if recurrent_mask is not None:
                dh_prev *= recurrent_mask
            if passed is not None:
                dh_prev += passed
            dh, dh_prev = dh_prev, dh
        h_in = h_in.reshape(-1, units)
        if self.reset_after:
            drecurrent2 = drecurrent.reshape(-1, 3 * units)
            self.recurrent_kernel.grad += h_in.T @ drecurrent2
            if self.bias is not None:
                self.bias.grad[1] += xp.ones(drecurrent2.shape[0], dtype=dh.dtype) @ drecurrent2
        else:
            dgates2 = dgates.reshape(-1, 3 * units)
            self.recurrent_kernel.grad[:, :2 * units] += h_in.T @ dgates2[:, :2 * units]
            reset_h = recurrent[..., 2 * units:].reshape(-1, units)
            self.recurrent_kernel.grad[:, 2 * units:] += reset_h.T @ dgates2[:, 2 * units:]
        return dgates, [dh]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


# ---------------------------------------------------------------------------- wrappers


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence and merges the
    two outputs.

        y = merge(forward_layer(x), reverse_time(backward_layer(x)))   (return_sequences)

    The backward layer is built from the wrapped layer's config with ``go_backwards`` flipped (or
    given as ``backward_layer``); with ``return_sequences`` its outputs are put back in time order
    before merging. Weights: the forward layer's, then the backward layer's (Keras's order).

    Args:
        layer: a SimpleRNN, LSTM or GRU (not called yet).
        merge_mode: "concat" (default), "sum", "mul", "ave", or None (return both outputs as a
            list).
        backward_layer: optional recurrent layer for the backward direction.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, timesteps, features)
    Output shape: (batch, [timesteps,] 2 units) for "concat", (batch, [timesteps,] units) for the
        others; with ``return_state``: ``[output, *forward_states, *backward_states]``.

    Example:
        >>> Bidirectional(LSTM(4, return_sequences=True)).compute_output_shape((None, 7, 3))
        (None, 7, 8)
    """

    _MERGE_MODES = ("concat", "sum", "mul", "ave", None)
    cache_attributes = ("_outputs",)
    supports_masking = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if "name" not in kwargs and isinstance(layer, BaseRNN):
            kwargs["name"] = f"bidirectional_{layer.name}"
        kwargs.setdefault("dtype", getattr(layer, "dtype", None))
        super().__init__(**kwargs)
        if not isinstance(layer, BaseRNN):
            raise arg_error(self, "layer", "a recurrent layer (SimpleRNN, LSTM or GRU)",
                            describe(layer))
        if merge_mode not in self._MERGE_MODES:
            raise arg_error(self, "merge_mode", f"one of {self._MERGE_MODES}", merge_mode)
        if layer.built:
            raise arg_error(self, "layer", "a layer that is not built yet", describe(layer))
        self.merge_mode = merge_mode
        config = layer.get_config()
        zero_output = layer.return_sequences
        base_name = layer.name.removeprefix("forward_")  # a layer read back from a config
        self.forward_layer = type(layer).from_config(
            {**config, "name": f"forward_{base_name}", "zero_output_for_mask": zero_output})
        if backward_layer is None:
            self.backward_layer = type(layer).from_config(
                {**config, "name": f"backward_{base_name}", "go_backwards": not layer.go_backwards,
                 "zero_output_for_mask": zero_output})
        else:
            if not isinstance(backward_layer, BaseRNN):
                raise arg_error(self, "backward_layer",
                                "a recurrent layer (SimpleRNN, LSTM or GRU)",
                                describe(backward_layer))
            for attribute in ("return_sequences", "return_state", "stateful"):
                if getattr(backward_layer, attribute) != getattr(layer, attribute):
                    raise arg_error(self, f"backward_layer.{attribute}",
                                    f"{getattr(layer, attribute)} like the forward layer's",
                                    getattr(backward_layer, attribute))
            if backward_layer.go_backwards == layer.go_backwards:
                raise arg_error(self, "backward_layer.go_backwards",
                                f"{not layer.go_backwards} (the opposite of the forward layer's)",
                                backward_layer.go_backwards)
            self.backward_layer = backward_layer
            backward_layer.zero_output_for_mask = zero_output
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        if self.input_spec_shape is None:  # Bidirectional(LSTM(8, input_shape=(5, 3))) first
            self.input_spec_shape = layer.input_spec_shape
        self._outputs = None

    def __call__(self, inputs, initial_state=None, training=False, mask=None):
        """As :meth:`BaseRNN.__call__`; ``initial_state`` lists the forward layer's states, then
        the backward layer's."""
        return _call_with_states(self, inputs, initial_state, training, mask)

    def _split_inputs(self, inputs):
        if not isinstance(inputs, list):
            return inputs, [], []
        count = len(self.forward_layer.state_names)
        states = inputs[1:]
        if len(states) != 2 * count:
            raise ValueError(f"{describe(self)}: initial_state must be a list of {2 * count} "
                             f"arrays (forward states, then backward states); got {len(states)}.")
        return inputs[0], list(states[:count]), list(states[count:])

    def build(self, input_shape):
        x_shape, forward_states, backward_states = self._split_inputs(input_shape)
        self.forward_layer.ensure_built([x_shape, *forward_states] if forward_states else x_shape)
        self.backward_layer.ensure_built([x_shape, *backward_states] if backward_states
                                         else x_shape)
        self._variables = self.forward_layer.weights + self.backward_layer.weights

    def compute_output_shape(self, input_shape):
        x_shape, forward_states, backward_states = self._split_inputs(input_shape)
        forward = self.forward_layer.compute_output_shape(
            [x_shape, *forward_states] if forward_states else x_shape)
        backward = self.backward_layer.compute_output_shape(
            [x_shape, *backward_states] if backward_states else x_shape)
        out_f = forward[0] if self.return_state else forward
        out_b = backward[0] if self.return_state else backward
        if self.merge_mode == "concat":
            outputs = [(*out_f[:-1], out_f[-1] + out_b[-1])]
        elif self.merge_mode is None:
            outputs = [out_f, out_b]
        else:
            outputs = [out_f]
        if self.return_state:
            outputs += list(forward[1:]) + list(backward[1:])
        return outputs if len(outputs) > 1 else outputs[0]

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        count = 1 if self.merge_mode is not None else 2
        if self.return_state:
            return [output_mask] * count + [None] * (2 * len(self.forward_layer.state_names))
        return output_mask if count == 1 else [output_mask] * 2

    def forward(self, inputs, training=False, mask=None):
        x, forward_states, backward_states = self._split_inputs(inputs)
        if isinstance(mask, list):
            mask = mask[0]
        forward = self.forward_layer.forward([x, *forward_states] if forward_states else x,
                                             training=training, mask=mask)
        backward = self.backward_layer.forward([x, *backward_states] if backward_states else x,
                                               training=training, mask=mask)
        states = []
        if self.return_state:
            states = list(forward[1:]) + list(backward[1:])
            forward, backward = forward[0], backward[0]
        if self.return_sequences:
            backward = backward[:, ::-1]
        self._outputs = (forward, backward)
        self._given_states = bool(forward_states)
        self._sublayer_caches = (self.forward_layer.save_cache(),
                                 self.backward_layer.save_cache())
        xp = backend.get_array_module(forward)
        if self.merge_mode == "concat":
            merged = [xp.concatenate([forward, backward], axis=-1)]
        elif self.merge_mode == "sum":
            merged = [forward + backward]
        elif self.merge_mode == "mul":
            merged = [forward * backward]
        elif self.merge_mode == "ave":
            merged = [(forward + backward) * 0.5]
        else:
            merged = [forward, backward]
        outputs = merged + states
        return outputs if len(outputs) > 1 else outputs[0]

    def backward(self, dy, need_dx=True):
        dys = dy if isinstance(dy, list) else [dy]
        forward, backward = self._outputs
        units = forward.shape[-1]
        if self.merge_mode == "concat":
            d_forward, d_backward = dys[0][..., :units], dys[0][..., units:]
        elif self.merge_mode == "sum":
            d_forward = d_backward = dys[0]
        elif self.merge_mode == "mul":
            d_forward, d_backward = dys[0] * backward, dys[0] * forward
        elif self.merge_mode == "ave":
            d_forward = d_backward = dys[0] * 0.5
        else:
            d_forward, d_backward = dys[0], dys[1]
        state_grads = dys[1 if self.merge_mode is not None else 2:]
        if self.return_sequences:
            d_backward = d_backward[:, ::-1]
        count = len(self.forward_layer.state_names)
        if self.return_state:
            d_forward = [d_forward, *state_grads[:count]]
            d_backward = [d_backward, *state_grads[count:]]
        self.forward_layer.restore_cache(self._sublayer_caches[0])
        self.backward_layer.restore_cache(self._sublayer_caches[1])
        dx_forward = self.forward_layer.backward(d_forward, need_dx=need_dx)
        dx_backward = self.backward_layer.backward(d_backward, need_dx=need_dx)
        if not self._given_states:
            return dx_forward + dx_backward if need_dx else None
        dx = dx_forward[0] + dx_backward[0] if need_dx else None
        return [dx, *dx_forward[1:], *dx_backward[1:]]

    def save_cache(self):
        return {"_outputs": self._outputs, "_given_states": self._given_states,
                "_sublayer_caches": self._sublayer_caches}

    def reset_states(self):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def get_config(self):
        """Keras's form: both directions' layers serialized in full (as Keras writes them)."""
        from dendrite.saving import serialization

        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialization.serialize_layer(self.forward_layer),
                "backward_layer": serialization.serialize_layer(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        from dendrite.saving import serialization

        config = dict(config)
        layers = [config.pop("layer"), config.pop("backward_layer", None)]
        # the wrapper builds its layers itself: drop a build_config the writer may have kept
        layers = [None if item is None else serialization.deserialize_layer(
            {k: v for k, v in item.items() if k != "build_config"}) for item in layers]
        return cls(layers[0], backward_layer=layers[1], **config)


class TimeDistributed(Layer):
    """Applies a layer to every timestep: y[:, t] = layer(x[:, t]).

    The timesteps are folded into the batch axis, so the wrapped layer runs once on
    (batch * timesteps, ...) and its weights are shared by all timesteps (their gradients sum).
    A mask passes through unchanged.

    Args:
        layer: the layer to apply (e.g. ``Dense``).
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, timesteps, ...)
    Output shape: (batch, timesteps, ...) with the inner layer's per-example output shape.

    Example:
        >>> from dendrite.layers import Dense
        >>> TimeDistributed(Dense(5)).compute_output_shape((None, 10, 3))
        (None, 10, 5)
    """

    cache_attributes = ("_shape", "_inner_cache")
    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise arg_error("TimeDistributed", "layer", "a Layer", layer)
        kwargs.setdefault("name", f"time_distributed_{layer.name}")
        kwargs.setdefault("dtype", layer.dtype)
        super().__init__(**kwargs)
        self.layer = layer

    def _check(self, shape):
        if len(shape) < 3:
            raise shape_error(self, "(batch, timesteps, ...)", tuple(shape))

    def build(self, input_shape):
        self._check(input_shape)
        self.layer.ensure_built((None, *input_shape[2:]))
        self._variables = self.layer.weights

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])

    def forward(self, x, training=False):
        self._check(x.shape)
        self._shape = x.shape
        y = self.layer.forward(x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), training=training)
        self._inner_cache = self.layer.save_cache()
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])

    def backward(self, dy, need_dx=True):
        self.layer.restore_cache(self._inner_cache)
        folded = dy.reshape(dy.shape[0] * dy.shape[1], *dy.shape[2:])
        dx = self.layer.backward(folded)
        return None if dx is None or not need_dx else dx.reshape(self._shape)

    def get_config(self):
        """Keras's form: the wrapped layer serialized in full, resolved through the registry."""
        from dendrite.saving import serialization

        return {**super().get_config(), "layer": serialization.serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config):
        from dendrite.saving import serialization

        config = dict(config)
        return cls(serialization.deserialize_layer(config.pop("layer")), **config)
