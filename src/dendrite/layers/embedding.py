"""Embedding and Masking: where sequence masks come from."""

from dendrite import backend, initializers, regularizers
from dendrite.errors import check_bool, check_number, describe, positive_int
from dendrite.layers.base import Layer


class Embedding(Layer):
    """Maps integer token ids to dense vectors: y[..., :] = embeddings[ids[...]].

    Ids arrive as integers (``Input(shape, dtype="int32")``) or as floats holding whole numbers
    (a float input, as Keras accepts); either way every id must lie in [0, input_dim). Backward adds
    dy into the rows of the ids it read (a row used twice gets both contributions); the ids have no
    gradient, so it returns None.

    Args:
        input_dim: positive int, size of the vocabulary (largest id + 1).
        output_dim: positive int, size of each vector.
        embeddings_initializer: default "uniform" (U[-0.05, 0.05], Keras's default).
        embeddings_regularizer: name or Regularizer, or None (default).
        mask_zero: id 0 is padding: the layer outputs the mask ``ids != 0`` for the layers that
            follow (recurrent layers skip those steps). Id 0 then cannot be a real token.
            Default False.
        input_length: optional sequence length (Keras 2's argument, deprecated in Keras 3);
            declares the input shape (input_length,) for a first layer.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments (``dtype`` is the dtype
            of the vectors).

    Input shape:  (batch, ...) integer ids, typically (batch, timesteps).
    Output shape: (batch, ..., output_dim)

    Attributes:
        embeddings: Variable (input_dim, output_dim).

    Example:
        >>> Embedding(1000, 64).compute_output_shape((None, 10))
        (None, 10, 64)
    """

    cache_attributes = ("_ids",)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, mask_zero=False, input_length=None, **kwargs):
        input_length = check_number("Embedding", "input_length", input_length, integer=True, low=1,
                                    allow_none=True, expected="a positive integer or None")
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)  # Keras 2's way to give the sequence length
        super().__init__(**kwargs)
        self.input_dim = positive_int(self, "input_dim", input_dim)
        self.output_dim = positive_int(self, "output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = check_bool(self, "mask_zero", mask_zero)
        self.supports_masking = self.mask_zero
        self._ids = None

    def _to_arrays(self, inputs):
        """Ids keep their integer dtype (the base layer would cast them to ``dtype``)."""
        xp = backend.get_array_module(inputs)
        return xp.asarray(inputs)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer)

    def _ids_of(self, x):
        xp = backend.get_array_module(x)
        if x.dtype.kind == "f":
            ids = x.astype("int64")
            if x.size and not (ids == x).all():
                raise ValueError(f"{describe(self)}: token ids must be whole numbers; got "
                                 f"{float(x[ids != x].reshape(-1)[0])!r}.")
        elif x.dtype.kind in "iu":
            ids = x
        else:
            raise ValueError(f"{describe(self)}: expected integer token ids; got dtype {x.dtype}.")
        if ids.size:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                raise ValueError(f"{describe(self)}: token ids must be in [0, {self.input_dim}) "
                                 f"(input_dim={self.input_dim}); got id {bad}.")
        return xp.asarray(ids)

    def forward(self, x, training=False):
        self._ids = self._ids_of(x)
        return self.embeddings.value[self._ids]

    def backward(self, dy, need_dx=True):
        xp = backend.get_array_module(dy)
        # dE[k] = sum of dy over the positions whose id is k
        xp.add.at(self.embeddings.grad, self._ids.reshape(-1), dy.reshape(-1, self.output_dim))

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return inputs != 0

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "mask_zero": self.mask_zero}


class Masking(Layer):
    """Marks timesteps to skip: a step whose features all equal ``mask_value`` is masked.

        mask[b, t] = any(x[b, t, :] != mask_value);   y = x * mask[..., None]

    The output is the input with masked steps zeroed (as Keras does), and the mask goes to the
    layers that follow.

    Args:
        mask_value: the padding value. Default 0.0.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, timesteps, features)
    Output shape: same as input.

    Example:
        >>> Masking(mask_value=-1.0).compute_output_shape((None, 10, 3))
        (None, 10, 3)
    """

    cache_attributes = ("_keep",)
    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = check_number(self, "mask_value", mask_value)
        self._keep = None

    def compute_mask(self, inputs, mask=None):
        return (inputs != self.mask_value).any(axis=-1)

    def forward(self, x, training=False):
        self._keep = self.compute_mask(x)[..., None].astype(x.dtype)
        return x * self._keep

    def backward(self, dy, need_dx=True):
        return dy * self._keep if need_dx else None

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
