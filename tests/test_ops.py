"""dendrite.ops: forward against NumPy, float64 gradient checks of every differentiable op
(broadcasting included), eager and symbolic paths agreeing, shape inference and configs."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import Input, Model, models, ops
from dendrite.ops.operation import unbroadcast
from dendrite.testing import check_gradients

RNG = np.random.default_rng(0)


def _array(shape, kind="any"):
    """float64 inputs away from kinks: |x| in [0.3, 1.3] with random signs, or positive."""
    magnitude = RNG.uniform(0.3, 1.3, shape)
    if kind == "positive":
        return magnitude
    return magnitude * RNG.choice([-1.0, 1.0], shape)


def _graph_of(fn, arrays):
    """A model whose inputs have the arrays' full shapes (fixed batch) and output fn(*inputs)."""
    inputs = [Input(batch_shape=a.shape, dtype="float64") for a in arrays]
    return Model(inputs if len(inputs) > 1 else inputs[0], fn(*inputs))


def _check(fn, reference, arrays, rtol=1e-5):
    """fn on arrays equals the NumPy reference; the recorded op node gives the same forward and
    gradients that match central differences in float64."""
    eager = fn(*arrays)
    np.testing.assert_allclose(eager, reference(*arrays), rtol=1e-12, atol=1e-12)
    model = _graph_of(fn, arrays)
    symbolic = model.forward(list(arrays) if len(arrays) > 1 else arrays[0])
    np.testing.assert_allclose(symbolic, eager, rtol=0, atol=0)
    assert model.output.shape == eager.shape
    check_gradients(model, list(arrays) if len(arrays) > 1 else arrays[0], rtol=rtol)


BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((4,), (2, 3, 4)),
                    ((2, 3, 1), (1, 1, 5))]

BINARY = {
    "add": (ops.add, np.add, "any"),
    "subtract": (ops.subtract, np.subtract, "any"),
    "multiply": (ops.multiply, np.multiply, "any"),
    "divide": (ops.divide, np.divide, "any"),
    "power": (ops.power, np.power, "positive"),
    "maximum": (ops.maximum, np.maximum, "any"),
    "minimum": (ops.minimum, np.minimum, "any"),
}


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_with_broadcasting(name, shapes):
    fn, reference, kind = BINARY[name]
    _check(fn, reference, [_array(shapes[0], kind), _array(shapes[1], kind)])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_with_python_constant(name):
    fn, reference, kind = BINARY[name]
    x = _array((3, 4), kind)
    _check(lambda t: fn(t, 0.7), lambda a: reference(a, 0.7), [x])
    _check(lambda t: fn(1.3, t), lambda a: reference(1.3, a), [x])


def _np_gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


UNARY = {
    "negative": (ops.negative, np.negative, "any"),
    "abs": (ops.abs, np.abs, "any"),
    "square": (ops.square, np.square, "any"),
    "sqrt": (ops.sqrt, np.sqrt, "positive"),
    "exp": (ops.exp, np.exp, "any"),
    "log": (ops.log, np.log, "positive"),
    "log1p": (ops.log1p, np.log1p, "positive"),
    "sin": (ops.sin, np.sin, "any"),
    "cos": (ops.cos, np.cos, "any"),
    "relu": (ops.relu, lambda x: np.maximum(x, 0), "any"),
    "sigmoid": (ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "any"),
    "tanh": (ops.tanh, np.tanh, "any"),
    "softplus": (ops.softplus, lambda x: np.log1p(np.exp(x)), "any"),
    "silu": (ops.silu, lambda x: x / (1 + np.exp(-x)), "any"),
    "gelu": (ops.gelu, _np_gelu, "any"),
    "elu": (ops.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), "any"),
    "leaky_relu": (ops.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), "any"),
    "softmax": (ops.softmax, _np_softmax, "any"),
    "log_softmax": (ops.log_softmax, lambda x: np.log(_np_softmax(x)), "any"),
    "softmax_axis0": (lambda x: ops.softmax(x, axis=0), lambda x: _np_softmax(x, 0), "any"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op(name):
    fn, reference, kind = UNARY[name]
    _check(fn, reference, [_array((3, 4), kind)])


REDUCTION_AXES = [None, 0, -1, (0, 2), 1]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", REDUCTION_AXES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std"])
def test_reduction(name, axis, keepdims):
    fn, reference = getattr(ops, name), getattr(np, name)
    x = _array((2, 3, 4))
    _check(lambda t: fn(t, axis=axis, keepdims=keepdims),
           lambda a: reference(a, axis=axis, keepdims=keepdims), [x])


def test_max_splits_the_gradient_among_ties():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    model = _graph_of(lambda t: ops.max(t, axis=1), [x])
    model.forward(x)
    np.testing.assert_allclose(model.backward(np.array([1.0, 2.0])),
                               [[0, 0.5, 0.5], [2, 0, 0]])


RESHAPING = {
    "reshape": (lambda t: ops.reshape(t, (4, -1)), lambda a: a.reshape(4, -1)),
    "flatten": (ops.flatten, np.ravel),
    "transpose": (ops.transpose, np.transpose),
    "transpose_axes": (lambda t: ops.transpose(t, (1, 0, 2)), lambda a: a.transpose(1, 0, 2)),
    "expand_dims": (lambda t: ops.expand_dims(t, 1), lambda a: np.expand_dims(a, 1)),
    "squeeze": (lambda t: ops.squeeze(ops.expand_dims(t, -1), -1), lambda a: a),
    "slice": (lambda t: t[:, 1:3], lambda a: a[:, 1:3]),
    "slice_int": (lambda t: t[1], lambda a: a[1]),
    "slice_step_ellipsis": (lambda t: t[..., ::2], lambda a: a[..., ::2]),
    "slice_newaxis": (lambda t: t[:, None, -1], lambda a: a[:, None, -1]),
    "split": (lambda t: ops.split(t, 3, axis=1)[1] * 2 + ops.sum(ops.split(t, [1], axis=2)[1]),
              lambda a: np.split(a, 3, axis=1)[1] * 2 + np.split(a, [1], axis=2)[1].sum()),
}


@pytest.mark.parametrize("name", sorted(RESHAPING))
def test_reshaping_op(name):
    fn, reference = RESHAPING[name]
    _check(fn, reference, [_array((2, 3, 4))])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    a, b = _array((2, 3, 4)), _array((2, 3, 4))
    _check(lambda x, y: ops.concatenate([x, y], axis=axis),
           lambda x, y: np.concatenate([x, y], axis=axis), [a, b])
    _check(lambda x, y: ops.stack([x, y, x], axis=axis),
           lambda x, y: np.stack([x, y, x], axis=axis), [a, b])


MATMUL_SHAPES = [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)), ((2, 3, 4), (4,)),
                 ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4,))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    _check(ops.matmul, np.matmul, [_array(shapes[0]), _array(shapes[1])])


def test_dot_and_the_matmul_operator():
    a, b = _array((3, 4)), _array((4, 2))
    _check(ops.dot, np.dot, [a, b])
    _check(lambda x, y: x @ y, np.matmul, [a, b])


def test_where_and_clip():
    x, y = _array((3, 4)), _array((4,))
    condition = RNG.random((3, 4)) > 0.5
    _check(lambda s, t: ops.where(condition, s, t), lambda s, t: np.where(condition, s, t), [x, y])
    _check(lambda s, t: ops.where(s > t, s, t), lambda s, t: np.where(s > t, s, t), [x, y])
    _check(lambda s: ops.clip(s, -0.8, 0.8), lambda s: np.clip(s, -0.8, 0.8), [x])


def test_cast_passes_the_gradient_back_in_the_input_dtype():
    x = _array((3, 4))
    model = _graph_of(lambda t: ops.cast(t, "float32") * 2, [x])
    y = model.forward(x)
    assert y.dtype == np.float32 and model.output.dtype == "float32"
    np.testing.assert_array_equal(y, x.astype("float32") * 2)
    dy = _array((3, 4)).astype("float32")
    dx = model.backward(dy)
    assert dx.dtype == np.float64
    np.testing.assert_array_equal(dx, (dy * 2).astype("float64"))


def test_operators_on_symbolic_tensors():
    a, b = _array((3, 4)), _array((3, 4), "positive")
    _check(lambda x, y: (-x + 2) * y / 3 - abs(x) ** 2 + 1.5 / y - y ** 0.5 + (1 - x),
           lambda x, y: (-x + 2) * y / 3 - abs(x) ** 2 + 1.5 / y - y ** 0.5 + (1 - x), [a, b])


def test_numpy_array_on_the_left_defers_to_the_symbolic_tensor():
    constant = _array((4,))
    x = Input(shape=(4,), dtype="float64")
    y = constant * x + constant
    assert y.shape == (None, 4)
    model = Model(x, y)
    a = _array((2, 4))
    np.testing.assert_allclose(model(a), constant * a + constant)


NOT_DIFFERENTIABLE = [
    (lambda t: ops.greater(t, 0.1), lambda a: a > 0.1),
    (lambda t: t <= 0.1, lambda a: a <= 0.1),
    (lambda t: ops.equal(t, 0.5), lambda a: a == 0.5),
    (lambda t: ops.argmax(t, axis=-1), lambda a: a.argmax(-1)),
    (lambda t: ops.argmin(t, axis=0), lambda a: a.argmin(0)),
    (ops.sign, np.sign),
    (ops.zeros_like, np.zeros_like),
    (ops.ones_like, np.ones_like),
]


@pytest.mark.parametrize("case", range(len(NOT_DIFFERENTIABLE)))
def test_ops_without_gradient(case):
    fn, reference = NOT_DIFFERENTIABLE[case]
    x = _array((3, 4))
    np.testing.assert_array_equal(fn(x), reference(x))
    model = _graph_of(fn, [x])
    np.testing.assert_array_equal(model.forward(x), reference(x))
    assert model.output.dtype == np.asarray(reference(x)).dtype.name


def test_one_hot_and_creation_ops():
    np.testing.assert_array_equal(ops.one_hot(np.array([0, 2]), 3), [[1, 0, 0], [0, 0, 1]])
    assert ops.one_hot(np.array([1]), 4).dtype == np.float32
    assert ops.ones((2, 3)).dtype == np.float32 and ops.zeros((2,), "float64").dtype == np.float64
    np.testing.assert_array_equal(ops.full((2,), 7.0), [7.0, 7.0])
    np.testing.assert_array_equal(ops.eye(2), np.eye(2))
    np.testing.assert_array_equal(ops.arange(3), [0, 1, 2])
    assert ops.shape(Input(shape=(5, 2))) == (None, 5, 2)
    x = ops.convert_to_tensor([1.0, 2.0])
    assert isinstance(x, np.ndarray) and ops.convert_to_numpy(x).tolist() == [1.0, 2.0]


def test_eager_ops_keep_float32():
    x = np.ones((2, 3), dtype="float32")
    assert ops.add(x, 1.5).dtype == np.float32
    assert ops.multiply(2, x).dtype == np.float32
    assert ops.mean(x, axis=0).dtype == np.float32
    y = Input(shape=(3,))
    assert (y * 2.0 + 1).dtype == "float32"


def test_unbroadcast_sums_over_broadcast_axes():
    grad = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(grad, (4,)), grad.sum(axis=(0, 1)))
    np.testing.assert_array_equal(unbroadcast(grad, (3, 1)), grad.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(unbroadcast(grad, (2, 1, 4)), grad.sum(axis=1, keepdims=True))
    assert unbroadcast(grad, (2, 3, 4)) is grad


def test_shape_inference_with_unknown_batch():
    x = Input(shape=(6, 4))
    assert ops.reshape(x, (-1, 24)).shape == (None, 24)
    assert ops.reshape(x, (ops.shape(x)[0], 3, 8)).shape == (None, 3, 8)
    assert ops.transpose(x, (0, 2, 1)).shape == (None, 4, 6)
    assert ops.sum(x, axis=1).shape == (None, 4)
    assert ops.matmul(x, np.ones((4, 3), "float32")).shape == (None, 6, 3)
    assert x[:, 1:4].shape == (None, 3, 4)
    assert x[0].shape == (6, 4)
    assert ops.concatenate([x, x], axis=-1).shape == (None, 6, 8)
    assert [t.shape for t in ops.split(x, 2, axis=1)] == [(None, 3, 4), (None, 3, 4)]


def test_shape_errors_name_the_op_and_the_shapes():
    x = Input(shape=(4,))
    with pytest.raises(ValueError, match=r"Add\(name='add.*'\): shapes \(None, 4\), \(3,\) do "
                                         "not broadcast"):
        x + np.ones(3, "float32")
    with pytest.raises(ValueError, match=r"Matmul\(name='matmul.*'\): the last axis of x1 and the "
                                         r"second-to-last of x2 must match; got shapes \(None, 4\) "
                                         r"and \(3, 2\)"):
        ops.matmul(x, np.ones((3, 2), "float32"))
    with pytest.raises(ValueError, match=r"cannot reshape an input of shape \(4,\) into \(3,\)"):
        ops.reshape(Input(batch_shape=(4,)), (3,))
    with pytest.raises(TypeError, match="only basic slicing"):
        x[np.array([0, 1])]


def test_functional_model_with_ops_trains_and_round_trips_its_config():
    rng = np.random.default_rng(1)
    x = Input(shape=(6,))
    h = dd.layers.Dense(6, activation="tanh")(x)
    h = ops.relu(h + x) * 2.0 - x[:, ::-1]
    h = ops.concatenate([h, ops.square(x)], axis=-1)
    model = Model(x, dd.layers.Dense(1)(ops.reshape(h, (-1, 3, 4))[:, -1]))
    clone = models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    data = rng.standard_normal((64, 6)).astype("float32")
    np.testing.assert_array_equal(clone.predict(data, verbose=0), model.predict(data, verbose=0))
    target = (data[:, 2:] ** 2).sum(axis=1, keepdims=True)  # linear in the last 4 features
    model.compile(dd.optimizers.Adam(0.05), "mse")
    history = model.fit(data, target, epochs=30, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]


def test_composite_expression_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, b, w = rng.standard_normal((4, 6)), rng.standard_normal((6,)), rng.standard_normal((6, 3))

    def expression(ns, x, y, kernel):
        h = ns.tanh(ns.matmul(x * y + 1.0, kernel))               # broadcast, matmul
        h = ns.concatenate([h, ns.exp(-ns.square(h))], axis=-1)  # (4, 6)
        h = ns.reshape(h, (4, 2, 3))[:, 1] / (1.5 + ns.abs(h[:, :3]))
        return ns.mean(ns.max(h, axis=1) * 2) + ns.sum(ns.softmax(h, axis=-1)[:, 0] ** 2)

    class TorchNamespace:
        tanh, matmul, exp, square, abs = (torch.tanh, torch.matmul, torch.exp, torch.square,
                                          torch.abs)
        reshape, mean = torch.reshape, torch.mean

        @staticmethod
        def concatenate(xs, axis):
            return torch.cat(xs, dim=axis)

        @staticmethod
        def max(x, axis):
            return torch.amax(x, dim=axis)

        @staticmethod
        def sum(x):
            return torch.sum(x)

        @staticmethod
        def softmax(x, axis):
            return torch.softmax(x, dim=axis)

    arrays = [a, b, w]
    model = _graph_of(lambda x, y, k: expression(ops, x, y, k), arrays)
    value = model.forward(arrays)
    grads = model.backward(np.array(1.0))
    tensors = [torch.tensor(t, requires_grad=True) for t in arrays]
    reference = expression(TorchNamespace, *tensors)
    reference.backward()
    np.testing.assert_allclose(value, reference.item(), rtol=1e-12)
    for grad, tensor in zip(grads, tensors):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-12)
