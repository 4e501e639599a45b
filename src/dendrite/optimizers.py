"""Optimizers with Keras 3's update rules and defaults, applied to a whole model at once.

A model's trainable variables live in one flat buffer (:class:`dendrite.variables.FlatParameters`);
an optimizer keeps its state (``m``, ``v`` ...) as flat arrays of the same length and updates every
parameter with a few vectorized in-place operations, with no Python loop over weights.

Arguments every optimizer takes (documented once here):
    learning_rate: float, or a callable of the step count (a schedule).
    weight_decay: decoupled decay, w -= lr * weight_decay * w before the update. Default None.
    clipnorm: clip each variable's gradient to this L2 norm. Default None.
    clipvalue: clip every gradient element to [-clipvalue, clipvalue]. Default None.
    global_clipnorm: clip all gradients together to this global L2 norm. Default None.
    name: a name for the optimizer.

Where PyTorch's defaults or formulas differ, the class docstring says so.
"""

import math

from dendrite import backend_ops, schedules
from dendrite.backend import get_array_module
from dendrite.errors import (
    arg_error,
    check_bool,
    check_unknown_kwargs,
    fraction,
    positive_number,
)
from dendrite.saving import serialization
from dendrite.variables import FlatParameters


class Optimizer:
    """Base class: clipping, weight decay, the step counter and the flat state."""

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        check_unknown_kwargs(type(self).__name__, kwargs)
        self.name = name or type(self).__name__.lower()
        if isinstance(learning_rate, dict):
            learning_rate = schedules.get(learning_rate)
        if not callable(learning_rate):
            learning_rate = self._positive("learning_rate", learning_rate)
        self._learning_rate = learning_rate
        for key, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm),
                           ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None:
                self._positive(key, value, allow_zero=key == "weight_decay")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(f"{type(self).__name__}: set at most one of clipnorm and "
                             f"global_clipnorm; got clipnorm={clipnorm}, "
                             f"global_clipnorm={global_clipnorm}")
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations = 0
        self._flat = None
        self._kept_state = {}

    def _positive(self, key, value, allow_zero=False):
        return positive_number(type(self).__name__, key, value, allow_zero=allow_zero)

    # -------------------------------------------------------------- learning rate

    @property
    def learning_rate(self):
        """The current learning rate (a schedule is evaluated at the current step)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value if callable(value) else self._positive("learning_rate", value)

    # -------------------------------------------------------------- state

    # names of the flat state arrays a subclass keeps (``m``, ``v`` ...), each like the values
    state_names = ()

    def build(self, flat):
        """Allocate the state for the variables of ``flat`` (a FlatParameters).

        State belongs to variables: when the flat buffer is rebuilt (layers added, models sharing
        layers trained in turn), each variable's slice of the old state is kept and copied into the
        new layout, so a rebuild never resets ``m``/``v`` while ``iterations`` goes on counting.
        """
        self._keep_state()
        self._flat = flat
        xp = get_array_module(flat.values)
        self._scratch = xp.empty_like(flat.values)
        self._starts = xp.asarray([start for _, start, _ in flat.slices], dtype="int64")
        self._sizes = xp.asarray([stop - start for _, start, stop in flat.slices], dtype="int64")
        self.build_state(flat.values)
        for variable, start, stop in flat.slices:
            variable_state, kept = self._kept_state.pop(id(variable), (None, {}))
            if variable_state is variable:
                for name, value in kept.items():
                    if getattr(self, name, None) is not None:
                        getattr(self, name)[start:stop] = value

    def _keep_state(self):
        """Copy every variable's slice of the current flat state aside (before a rebuild)."""
        if self._flat is None:
            return
        for variable, start, stop in self._flat.slices:
            self._kept_state[id(variable)] = (variable, {
                name: getattr(self, name)[start:stop].copy() for name in self.state_names
                if getattr(self, name, None) is not None})

    def variable_state(self, variable):
        """``{state name: array}`` for one variable, shaped like it (views while it is laid out
        in the current flat buffer, else the kept copies); empty before the first step."""
        for candidate, start, stop in (self._flat.slices if self._flat is not None else ()):
            if candidate is variable:
                return {name: getattr(self, name)[start:stop].reshape(variable.shape)
                        for name in self.state_names if getattr(self, name, None) is not None}
        owner, kept = self._kept_state.get(id(variable), (None, {}))
        return {name: value.reshape(variable.shape) for name, value in kept.items()} \
            if owner is variable else {}

    def build_state(self, values):
        """Allocate the flat state arrays (shaped like ``values``)."""

    def zeros_like(self, values, fill=0.0):
        buffer = get_array_module(values).empty_like(values)
        buffer.fill(fill)
        return buffer

    # -------------------------------------------------------------- stepping

    def step(self, flat):
        """Apply one update to every variable of ``flat`` from the gradients in ``flat.grads``."""
        if self._flat is not flat:
            self.build(flat)
        grads = flat.grads
        self._clip(grads)
        lr = self.learning_rate
        if self.weight_decay:
            # w -= lr wd w, in place (no model-size temporary)
            flat.values *= 1 - lr * self.weight_decay
        self.iterations += 1
        self.update(flat.values, grads, lr, self.iterations)

    def apply_gradients(self, grads_and_vars):
        """Keras's entry point: update ``Variable`` objects from ``(gradient, variable)`` pairs.

        The variables are laid out in one flat buffer the first time (their arrays are rebound
        as views), so later calls cost the same as :meth:`step`.
        """
        pairs = list(grads_and_vars)
        variables = [v for _, v in pairs]
        if self._flat is None or not self._flat.owns(variables):
            self.build(FlatParameters(variables))
        for grad, variable in pairs:
            grad = get_array_module(variable.value).asarray(grad)
            if grad.shape != variable.shape:
                raise ValueError(f"{type(self).__name__}: gradient for {variable.name!r} has shape "
                                 f"{tuple(grad.shape)}; expected {tuple(variable.shape)}.")
            variable.grad[...] = grad
        self.step(self._flat)

    def update(self, w, g, lr, t):
        """Update flat values ``w`` in place from flat gradients ``g`` at step ``t`` (from 1)."""
        raise NotImplementedError

    def _clip(self, grads):
        xp = get_array_module(grads)
        if self.clipvalue is not None:
            xp.clip(grads, -self.clipvalue, self.clipvalue, out=grads)
        if self.global_clipnorm is not None:
            norm = math.sqrt(float(grads @ grads))
            if norm > self.global_clipnorm:
                grads *= self.global_clipnorm / norm
        if self.clipnorm is not None:
            squares = xp.multiply(grads, grads, out=self._scratch)
            norms = xp.sqrt(xp.add.reduceat(squares, self._starts)) if grads.size else squares
            scale = self.clipnorm / xp.maximum(norms, self.clipnorm)
            grads *= xp.repeat(scale.astype(grads.dtype), self._sizes)

    def get_config(self):
        lr = self._learning_rate
        if callable(lr):  # a schedule; a plain function raises, naming it
            lr = schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    m = momentum * m - lr * g;  w += m, or with nesterov w += momentum * m - lr * g.
    With momentum 0 this is w -= lr * g.

    Args:
        learning_rate: default 0.01. momentum: in [0, 1), default 0.0. nesterov: default False.

    PyTorch's SGD keeps buf = momentum * buf + g and steps w -= lr * buf: the same trajectory
    for a constant learning rate (m = -lr * buf).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = fraction("SGD", "momentum", momentum)
        self.nesterov = check_bool("SGD", "nesterov", nesterov)

    state_names = ("m",)

    def build_state(self, values):
        self.m = self.zeros_like(values) if self.momentum else None

    def update(self, w, g, lr, t):
        step = self._scratch
        if not self.momentum:
            w -= get_array_module(w).multiply(g, lr, out=step)
            return
        # one fused kernel on CuPy; the same in-place operations elsewhere
        backend_ops.sgd_momentum_update(w, g, self.m, step, lr, self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adagrad(Optimizer):
    """Adagrad: a += g^2;  w -= lr * g / sqrt(a + eps).

    Args:
        learning_rate: default 0.001. initial_accumulator_value: default 0.1. epsilon: 1e-7.

    PyTorch's Adagrad defaults to lr=0.01, initial_accumulator_value=0 and eps=1e-10 added
    outside the square root: w -= lr * g / (sqrt(a) + eps).
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = self._positive(
            "initial_accumulator_value", initial_accumulator_value, allow_zero=True)
        self.epsilon = self._positive("epsilon", epsilon)

    state_names = ("accumulator",)

    def build_state(self, values):
        self.accumulator = self.zeros_like(values, self.initial_accumulator_value)

    def update(self, w, g, lr, t):
        xp = get_array_module(w)
        a, step = self.accumulator, self._scratch
        a += xp.multiply(g, g, out=step)
        xp.add(a, self.epsilon, out=step)
        xp.sqrt(step, out=step)
        xp.divide(g, step, out=step)
        step *= lr
        w -= step

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop: v = rho v + (1 - rho) g^2;  w -= lr * g / sqrt(v + eps).

    centered: also track mean gradient a and divide by sqrt(v - a^2 + eps).
    momentum > 0: m = momentum m + lr g / sqrt(...);  w -= m.

    Args:
        learning_rate: default 0.001. rho: 0.9. momentum: 0.0. epsilon: 1e-7. centered: False.

    PyTorch's RMSprop defaults to lr=0.01, alpha (rho)=0.99, eps=1e-8, and adds eps outside
    the square root: w -= lr * g / (sqrt(v) + eps).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = fraction("RMSprop", "rho", rho)
        self.momentum = fraction("RMSprop", "momentum", momentum)
        self.epsilon = self._positive("epsilon", epsilon)
        self.centered = check_bool("RMSprop", "centered", centered)

    state_names = ("velocity", "average_gradient", "m")

    def build_state(self, values):
        self.velocity = self.zeros_like(values)
        self.average_gradient = self.zeros_like(values) if self.centered else None
        self.m = self.zeros_like(values) if self.momentum else None

    def update(self, w, g, lr, t):
        xp = get_array_module(w)
        v, step = self.velocity, self._scratch
        v *= self.rho
        xp.multiply(g, g, out=step)
        step *= 1 - self.rho
        v += step
        if self.centered:
            a = self.average_gradient
            a *= self.rho
            a += (1 - self.rho) * g
            xp.multiply(a, a, out=step)
            xp.subtract(v, step, out=step)
        else:
            step[...] = v
        step += self.epsilon
        xp.sqrt(step, out=step)
        xp.divide(g, step, out=step)
        step *= lr
        if self.momentum:
            self.m *= self.momentum
            self.m += step
            w -= self.m
        else:
            w -= step

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adam: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)    (Keras's form).

    Args:
        learning_rate: default 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7.
        amsgrad: use the running maximum of v. Default False.
        epsilon_form: ``"keras"`` (above) or ``"paper"``: w -= lr m_hat / (sqrt(v_hat) + eps) with
            m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), the form of Kingma & Ba, PyTorch and the
            tutorials' ``update_parameters_with_adam``. The two differ only in where eps enters.

    PyTorch's Adam uses the "paper" form with eps=1e-8.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 epsilon_form="keras", **kwargs):
        super().__init__(learning_rate, **kwargs)
        owner = type(self).__name__
        self.beta_1 = fraction(owner, "beta_1", beta_1)
        self.beta_2 = fraction(owner, "beta_2", beta_2)
        if epsilon_form not in ("keras", "paper"):
            raise arg_error(owner, "epsilon_form", "'keras' or 'paper'", epsilon_form)
        self.epsilon_form = epsilon_form
        self.epsilon = self._positive("epsilon", epsilon)
        self.amsgrad = check_bool(owner, "amsgrad", amsgrad)

    state_names = ("m", "v", "v_max")

    def build_state(self, values):
        self.m = self.zeros_like(values)
        self.v = self.zeros_like(values)
        self.v_max = self.zeros_like(values) if self.amsgrad else None

    def update(self, w, g, lr, t):
        b1, b2 = self.beta_1, self.beta_2
        correction_1, correction_2 = 1 - b1**t, 1 - b2**t
        keras_form = self.epsilon_form == "keras"  # where eps enters (see the docstring)
        alpha = lr * math.sqrt(correction_2) / correction_1 if keras_form else lr / correction_1
        scale = 1.0 if keras_form else 1 / math.sqrt(correction_2)
        # one fused kernel on CuPy (without amsgrad); the same in-place operations elsewhere
        backend_ops.adam_update(w, g, self.m, self.v, self._scratch, b1, b2, self.epsilon, alpha,
                                scale, v_max=self.v_max)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad, "epsilon_form": self.epsilon_form}


class AdamW(Adam):
    """Adam with decoupled weight decay: w -= lr * weight_decay * w, then the Adam step.

    Args: as :class:`Adam`, plus weight_decay (default 0.004).

    PyTorch's AdamW defaults to weight_decay=0.01 (same formula) and the "paper" epsilon form.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)


_CLASSES = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}
_BY_CLASS_NAME = {cls.__name__: cls for cls in _CLASSES.values()}


serialization.register_builtins("optimizers", _BY_CLASS_NAME, names=_CLASSES, base=Optimizer)


def get(identifier):
    """An Optimizer from a name (``"adam"``, defaults), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_CLASS_NAME:
        identifier = identifier.lower()
    if isinstance(identifier, (str, dict)):
        return serialization.deserialize("optimizers", identifier)
    raise ValueError(f"Unknown optimizer {identifier!r}. Valid names: {sorted(_CLASSES)}.")


def serialize(optimizer):
    """Keras's form (``{"module": "keras.optimizers", ...}``). Raises ValueError if the learning
    rate is a plain function, which a config cannot hold."""
    return serialization.serialize(optimizer)
