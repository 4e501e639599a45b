"""Merge layers: the layer harness (NumPy forward, float64 gradients, torch parity, float32,
config round trip, shape inference) on every layer with 2 and 3 inputs and broadcasting, ties of
Maximum/Minimum, error messages, the functional forms, masks, and use in functional models."""

import json

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers
from dendrite.layers import (
    Add,
    Average,
    Concatenate,
    Dense,
    Dot,
    Input,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)
from dendrite.testing import check_model_gradients, run_layer_test

F64 = "float64"


def _sum(xs):
    return sum(_expand_all(xs)[1:], _expand_all(xs)[0])


def _expand_all(xs):
    """Keras's rule written out: lower-rank inputs get size-1 axes right after the batch axis."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[0], *([1] * (rank - x.ndim)), *x.shape[1:]) for x in xs]


def _product(xs):
    result = 1.0
    for x in _expand_all(xs):
        result = result * x
    return result


ELEMENTWISE_SHAPES = {
    "2_equal": [(4, 3), (4, 3)],
    "3_equal": [(2, 3, 4), (2, 3, 4), (2, 3, 4)],
    "2_broadcast_axis": [(3, 4, 5), (3, 1, 5)],
    "3_lower_rank": [(3, 4, 5), (3, 1, 5), (3, 5)],
    "2_lower_rank_first": [(2, 3), (2, 4, 3)],
}

ELEMENTWISE = {
    "add": (Add, _sum),
    "average": (Average, lambda xs: _sum(xs) / len(xs)),
    "multiply": (Multiply, _product),
    "maximum": (Maximum, lambda xs: np.maximum.reduce(np.broadcast_arrays(*_expand_all(xs)))),
    "minimum": (Minimum, lambda xs: np.minimum.reduce(np.broadcast_arrays(*_expand_all(xs)))),
}


@pytest.mark.parametrize("shapes", list(ELEMENTWISE_SHAPES), ids=list(ELEMENTWISE_SHAPES))
@pytest.mark.parametrize("kind", list(ELEMENTWISE))
def test_elementwise_merge_layers(kind, shapes):
    layer_class, reference = ELEMENTWISE[kind]
    shapes = ELEMENTWISE_SHAPES[shapes]
    report = run_layer_test(layer_class, {}, shapes, reference=lambda xs: reference(xs))
    assert set(report["gradients"]) == {f"x{i}" for i in range(len(shapes))}
    expected = np.broadcast_shapes(*[s.shape for s in _expand_all([np.zeros(s) for s in shapes])])
    assert report["output_shape"] == (None, *expected[1:])


@pytest.mark.parametrize("shapes", [[(4, 3), (4, 3)], [(3, 4, 5), (3, 1, 5)], [(2, 3), (2, 4, 3)]],
                         ids=["equal", "broadcast_axis", "lower_rank_first"])
def test_subtract(shapes):
    report = run_layer_test(Subtract, {}, shapes,
                            reference=lambda xs: _expand_all(xs)[0] - _expand_all(xs)[1])
    assert set(report["gradients"]) == {"x0", "x1"}


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("case", ["add", "subtract", "multiply", "average", "maximum", "minimum"])
def test_elementwise_merges_match_torch(case):
    torch = _torch()
    reduce = {"add": lambda a, b: a + b, "subtract": lambda a, b: a - b,
              "multiply": lambda a, b: a * b, "average": None,
              "maximum": torch.maximum, "minimum": torch.minimum}[case]
    layer_class = {"add": Add, "subtract": Subtract, "multiply": Multiply, "average": Average,
                   "maximum": Maximum, "minimum": Minimum}[case]
    shapes = [(3, 4, 5), (3, 1, 5)] if case == "subtract" else [(3, 4, 5), (3, 1, 5), (3, 4, 1)]

    def torch_reference(xs):
        if case == "average":
            return sum(xs) / len(xs)
        result = xs[0]
        for x in xs[1:]:
            result = reduce(result, x)
        return result

    report = run_layer_test(layer_class, {}, shapes, torch_reference=torch_reference)
    assert report["torch"] is not None and max(report["torch"].values()) < 1e-12


# ---------------------------------------------------------------------------- concatenate


@pytest.mark.parametrize("axis, shapes", [
    (-1, [(4, 3), (4, 2)]),
    (-1, [(2, 3, 4), (2, 3, 1), (2, 3, 2)]),
    (1, [(2, 3, 4), (2, 1, 4), (2, 2, 4)]),
    (2, [(2, 3, 4, 2), (2, 3, 1, 2)]),
    (-3, [(2, 3, 4, 2), (2, 1, 4, 2)]),
], ids=["2d_last", "3_inputs_last", "axis1", "axis2_4d", "negative_axis"])
def test_concatenate(axis, shapes):
    torch = _torch()
    report = run_layer_test(Concatenate, {"axis": axis}, shapes,
                            reference=lambda xs: np.concatenate(xs, axis=axis),
                            torch_reference=lambda xs: torch.cat(xs, dim=axis))
    total = sum(s[axis] for s in shapes)
    assert report["output_shape"][axis] == total


# ---------------------------------------------------------------------------- dot


def _normalize(x, axis):
    return x / np.maximum(np.sqrt((x * x).sum(axis=axis, keepdims=True)), 1e-7)


def _dot_reference(axes, normalize):
    def reference(xs):
        x, y = xs
        pair = [axes, axes] if isinstance(axes, int) else list(axes)
        a1, a2 = (a % z.ndim for a, z in zip(pair, xs))
        if normalize:
            x, y = _normalize(x, a1), _normalize(y, a2)
        out = np.stack([np.tensordot(x[b], y[b], axes=(a1 - 1, a2 - 1)) for b in range(len(x))])
        return out.reshape(len(x), 1) if out.ndim == 1 else out
    return reference


DOT_CASES = {
    "vectors": (1, [(5, 4), (5, 4)]),
    "vectors_negative": (-1, [(5, 4), (5, 4)]),
    "matrix_vector": (-1, [(3, 4, 5), (3, 5)]),
    "vector_matrix": ((1, 2), [(3, 4), (3, 2, 4)]),
    "matrices": ((1, 2), [(3, 4, 5), (3, 2, 4)]),
    "rank4": ((2, 1), [(2, 3, 4, 5), (2, 4, 3)]),
}


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("case", list(DOT_CASES))
def test_dot(case, normalize):
    torch = _torch()
    axes, shapes = DOT_CASES[case]

    def torch_reference(xs):
        x, y = xs
        pair = [axes, axes] if isinstance(axes, int) else list(axes)
        a1, a2 = (a % z.dim() for a, z in zip(pair, xs))
        if normalize:  # torch's normalize: x / max(||x||, eps), Keras's formula
            x = torch.nn.functional.normalize(x, dim=a1, eps=1e-7)
            y = torch.nn.functional.normalize(y, dim=a2, eps=1e-7)
        out = torch.stack([torch.tensordot(x[b], y[b], dims=([a1 - 1], [a2 - 1]))
                           for b in range(x.shape[0])])
        return out.reshape(x.shape[0], 1) if out.dim() == 1 else out

    report = run_layer_test(Dot, {"axes": axes, "normalize": normalize}, shapes,
                            reference=_dot_reference(axes, normalize),
                            torch_reference=torch_reference)
    assert set(report["gradients"]) == {"x0", "x1"}


def test_dot_output_shapes_follow_keras_batch_dot():
    assert Dot(1).compute_output_shape([(None, 8), (None, 8)]) == (None, 1)
    assert Dot((1, 2)).compute_output_shape([(None, 3, 5), (None, 4, 3)]) == (None, 5, 4)
    assert Dot(-1).compute_output_shape([(None, 3, 5), (None, 5)]) == (None, 3)
    assert Dot((2, 1)).compute_output_shape([(None, 3, 4, 5), (None, 4, 7)]) == (None, 3, 5, 7)
    assert Dot(1).compute_output_shape([(None, None), (None, 6)]) == (None, 1)


def test_dot_normalize_is_cosine_proximity():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    cosine = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    np.testing.assert_allclose(Dot(1, normalize=True, dtype=F64)([x, y])[:, 0], cosine, rtol=1e-12)
    np.testing.assert_allclose(Dot(1, normalize=True, dtype=F64)([x, 3 * x])[:, 0], 1.0, rtol=1e-12)


def test_dot_normalize_of_a_zero_vector_is_finite():
    x = np.zeros((2, 3))
    y = np.random.default_rng(1).standard_normal((2, 3))
    layer = Dot(1, normalize=True, dtype=F64)
    np.testing.assert_array_equal(layer([x, y]), np.zeros((2, 1)))
    dx, dy = layer.backward(np.ones((2, 1)))
    # below epsilon the norm is clamped: x_hat = x / eps, so dx = (y / ||y||) / eps
    np.testing.assert_allclose(dx, _normalize(y, 1) / 1e-7, rtol=1e-12)
    np.testing.assert_array_equal(dy, np.zeros((2, 3)))


# ---------------------------------------------------------------------------- maximum, minimum ties


@pytest.mark.parametrize("layer_class", [Maximum, Minimum])
def test_ties_send_the_whole_gradient_to_the_first_tied_input(layer_class):
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[1.0, 0.0, 3.0]]) if layer_class is Maximum else np.array([[1.0, 5.0, 3.0]])
    c = np.array([[0.0, 2.0, 3.0]]) if layer_class is Maximum else np.array([[4.0, 2.0, 3.0]])
    layer = layer_class(dtype=F64)
    np.testing.assert_array_equal(layer([a, b, c]), [[1.0, 2.0, 3.0]])
    dx = layer.backward(np.array([[10.0, 20.0, 30.0]]))
    np.testing.assert_array_equal(dx[0], [[10.0, 20.0, 30.0]])  # a ties with b (and c): a wins
    np.testing.assert_array_equal(dx[1], [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(dx[2], [[0.0, 0.0, 0.0]])


def test_maximum_tie_between_later_inputs_goes_to_the_earlier_one():
    a, b, c = np.array([[0.0]]), np.array([[2.0]]), np.array([[2.0]])
    layer = Maximum(dtype=F64)
    layer([a, b, c])
    assert [g.item() for g in layer.backward(np.array([[1.0]]))] == [0.0, 1.0, 0.0]


def test_maximum_gradient_with_broadcasting_sums_over_the_broadcast_axis():
    a = np.array([[[1.0], [5.0], [2.0]]])  # (1, 3, 1), broadcast over the last axis
    b = np.array([[[3.0, 0.0]]])           # (1, 1, 2), broadcast over the middle axis
    layer = Maximum(dtype=F64)
    np.testing.assert_array_equal(layer([a, b]), [[[3.0, 1.0], [5.0, 5.0], [3.0, 2.0]]])
    da, db = layer.backward(np.ones((1, 3, 2)))
    np.testing.assert_array_equal(da, [[[1.0], [2.0], [1.0]]])
    np.testing.assert_array_equal(db, [[[2.0, 0.0]]])


def test_maximum_propagates_nan_as_keras_does():
    y = Maximum(dtype=F64)([np.array([[np.nan, 1.0]]), np.array([[2.0, np.nan]])])
    assert np.isnan(y).all()


def test_multiply_gradient_is_exact_with_zeros():
    a, b, c = np.array([[0.0, 2.0]]), np.array([[3.0, 0.0]]), np.array([[5.0, 7.0]])
    layer = Multiply(dtype=F64)
    layer([a, b, c])
    da, db, dc = layer.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(da, [[15.0, 0.0]])
    np.testing.assert_array_equal(db, [[0.0, 14.0]])
    np.testing.assert_array_equal(dc, [[0.0, 0.0]])


# ---------------------------------------------------------------------------- functional forms


def test_functional_forms_on_arrays():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((3, 4)).astype("float32"), rng.standard_normal((3, 4)).astype(
        "float32")
    np.testing.assert_allclose(layers.add([a, b]), a + b, rtol=1e-6)
    np.testing.assert_allclose(layers.subtract([a, b]), a - b, rtol=1e-6)
    np.testing.assert_allclose(layers.multiply([a, b]), a * b, rtol=1e-6)
    np.testing.assert_allclose(layers.average([a, b]), (a + b) / 2, rtol=1e-6)
    np.testing.assert_array_equal(layers.maximum([a, b]), np.maximum(a, b))
    np.testing.assert_array_equal(layers.minimum([a, b]), np.minimum(a, b))
    np.testing.assert_array_equal(layers.concatenate([a, b]), np.concatenate([a, b], -1))
    np.testing.assert_array_equal(layers.concatenate([a, b], axis=1), np.concatenate([a, b], 1))
    np.testing.assert_allclose(layers.dot([a, b], axes=1)[:, 0], (a * b).sum(1), rtol=1e-5)
    np.testing.assert_allclose(layers.dot([a, b])[:, 0], (a * b).sum(1), rtol=1e-5)
    cosine = layers.dot([a, b], axes=1, normalize=True)[:, 0]
    np.testing.assert_allclose(cosine, (_normalize(a, 1) * _normalize(b, 1)).sum(1), rtol=1e-5)
    assert layers.add([a, b]).dtype == np.float32


def test_functional_forms_on_symbolic_tensors():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    for function in (layers.add, layers.subtract, layers.multiply, layers.average,
                     layers.maximum, layers.minimum):
        assert function([a, b]).shape == (None, 4)
    assert layers.concatenate([a, b]).shape == (None, 8)
    assert layers.dot([a, b], axes=1).shape == (None, 1)
    named = layers.add([a, b], name="residual")
    assert named.node.layer.name == "residual" and isinstance(named.node.layer, Add)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make, shapes, match", [
    (lambda: Add(name="m"), [(2, 3), (2, 4)],
     (r"Add\(name='m'\): expected inputs with equal batch sizes whose other axes broadcast "
     r"\(aligned from the right, each pair equal or 1\); got input shapes \(2, 3\), \(2, 4\)\.")),
    (lambda: Multiply(name="m"), [(2, 3), (2, 3), (2, 5, 2)],
     r"Multiply\(name='m'\): .*; got input shapes \(2, 3\), \(2, 3\), \(2, 5, 2\)\."),
    (lambda: Maximum(name="m"), [(2, 3), (4, 3)],
     (r"Maximum\(name='m'\): expected inputs with equal batch sizes.*got input shapes \(2, 3\), "
     r"\(4, 3\)\.")),
    (lambda: Subtract(name="m"), [(2, 3)] * 3,
     (r"Subtract\(name='m'\): expected a list of exactly 2 inputs; got 3 with shapes \(2, 3\), "
     r"\(2, 3\), \(2, 3\)\.")),
    (lambda: Average(name="m"), [(2, 3)],
     r"Average\(name='m'\): expected a list of at least 2 inputs; got 1 with shapes \(2, 3\)\."),
    (lambda: Concatenate(name="m"), [(2, 3, 4), (2, 5, 2)],
     (r"Concatenate\(name='m'\): expected inputs with equal sizes on every axis but axis=-1; "
     r"got input shapes \(2, 3, 4\), \(2, 5, 2\)\.")),
    (lambda: Concatenate(axis=1, name="m"), [(2, 3, 4), (2, 3)],
     (r"Concatenate\(name='m'\): expected inputs of one rank with axis=1 a non-batch axis; "
     r"got input shapes \(2, 3, 4\), \(2, 3\)\.")),
    (lambda: Concatenate(axis=0, name="m"), [(2, 3), (2, 3)],
     r"axis=0 a non-batch axis; got input shapes \(2, 3\), \(2, 3\)\."),
    (lambda: Dot(1, name="m"), [(2, 3), (2, 4)],
     (r"Dot\(name='m'\): expected equal sizes along axes=1 \(axis 1 of the first input has 3, "
     r"axis 1 of the second 4\); got input shapes \(2, 3\), \(2, 4\)\.")),
    (lambda: Dot(0, name="m"), [(2, 3), (2, 3)],
     (r"Dot\(name='m'\): axes=0 must name a non-batch axis of each input; got input shapes "
     r"\(2, 3\), \(2, 3\)\.")),
    (lambda: Dot((1, 3), name="m"), [(2, 3), (2, 4, 3)],
     r"axes=\[1, 3\] must name a non-batch axis of each input"),
    (lambda: Dot(1, name="m"), [(2, 3), (3, 3)],
     (r"Dot\(name='m'\): expected inputs with equal batch sizes; got input shapes \(2, 3\), "
     r"\(3, 3\)\.")),
    (lambda: Dot(1, name="m"), [(2, 3), (2, 3), (2, 3)],
     r"Dot\(name='m'\): expected a list of exactly 2 inputs; got 3 with shapes"),
])
def test_bad_input_shapes_name_the_layer_and_every_shape(make, shapes, match):
    arrays = [np.zeros(s, dtype="float32") for s in shapes]
    with pytest.raises(ValueError, match=match):
        make()(arrays)


def test_mismatch_found_when_building_from_symbolic_inputs():
    a, b = Input(shape=(3,)), Input(shape=(4,))
    with pytest.raises(ValueError, match=r"Add\(name='bad'\): .*got input shapes \(None, 3\), "
                                         r"\(None, 4\)\."):
        Add(name="bad")([a, b])


def test_shapes_checked_again_at_call_time():
    layer = Add(name="a")
    layer([np.zeros((2, 3)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"got input shapes \(2, 3\), \(2, 5\)\."):
        layer([np.zeros((2, 3)), np.zeros((2, 5))])


def test_single_tensor_instead_of_a_list_is_refused():
    with pytest.raises(ValueError, match=r"Add\(name='a'\): expected a list of at least 2 inputs; "
                                         r"got a single input of shape \(2, 3\)\."):
        Add(name="a")(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Dot\(name='d'\): expected a list of exactly 2 inputs; "
                                         r"got a single input of shape \(None, 3\)\."):
        Dot(1, name="d")(Input(shape=(3,)))
    with pytest.raises(ValueError, match=r"got a single input of shape \(2, 3\)\."):
        Add(name="a").forward(np.zeros((2, 3)))


@pytest.mark.parametrize("make, match", [
    (lambda: Dot("last", name="d"), (r"Dot\(name='d'\): axes must be an integer or a pair of "
                                    r"integers; got axes='last'")),
    (lambda: Dot((1, 2, 3), name="d"), r"got axes=\(1, 2, 3\)"),
    (lambda: Dot((1, 2.0), name="d"), r"got axes=\(1, 2.0\)"),
    (lambda: Dot(True, name="d"), r"got axes=True"),
    (lambda: Dot(1, normalize="yes", name="d"), (r"normalize must be True or False; "
                                                r"got normalize='yes'")),
    (lambda: Concatenate(axis=1.0, name="c"), (r"Concatenate\(name='c'\): axis must be an "
                                              r"integer; got axis=1.0")),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unknown_keyword_argument_raises():
    with pytest.raises(TypeError, match="unknown keyword argument"):
        Concatenate(axes=1)


# ---------------------------------------------------------------------------- config, masks


@pytest.mark.parametrize("layer", [
    Add(), Subtract(name="s"), Multiply(), Average(), Maximum(), Minimum(dtype=F64),
    Concatenate(), Concatenate(axis=1, name="c"), Dot(1), Dot((1, 2), normalize=True),
    Dot([2, 1]),
])
def test_config_round_trip(layer):
    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert type(clone) is type(layer)


def test_dot_config_keeps_axes():
    assert Dot((1, 2)).get_config()["axes"] == [1, 2]
    assert Dot(-1, normalize=True).get_config()["axes"] == -1


def test_masks_follow_keras():
    a, b = np.zeros((2, 3, 4)), np.zeros((2, 3, 5))
    m1 = np.array([[True, False, False], [True, True, False]])
    m2 = np.array([[False, True, False], [True, False, False]])
    np.testing.assert_array_equal(Add().compute_mask([a, a], [m1, m2]), m1 | m2)
    assert Add().compute_mask([a, a], [m1, None]) is None
    assert Add().compute_mask([a, a], None) is None
    assert Dot(1).compute_mask([a, a], [m1, m2]) is None
    # joined on the feature axis: a step is kept if either input keeps it (unmasked counts as kept)
    np.testing.assert_array_equal(Concatenate().compute_mask([a, b], [m1, m2]), m1 | m2)
    np.testing.assert_array_equal(Concatenate().compute_mask([a, b], [m1, None]),
                                  np.ones((2, 3), bool))
    # joined on the time axis: the masks are concatenated
    np.testing.assert_array_equal(Concatenate(axis=1).compute_mask([a, a], [m1, m2]),
                                  np.concatenate([m1, m2], axis=1))


def test_backward_skips_input_gradients_when_not_needed():
    layer = Add(dtype=F64)
    layer([np.ones((2, 3)), np.ones((2, 3))])
    assert layer.backward(np.ones((2, 3)), need_dx=False) is None


# ---------------------------------------------------------------------------- in functional models


def _two_tower_model(merge):
    a, b = Input(shape=(4,), dtype=F64), Input(shape=(3,), dtype=F64)
    towers = [Dense(3, activation="tanh", dtype=F64)(a), Dense(3, activation="tanh", dtype=F64)(b)]
    return dd.Model([a, b], Dense(2, dtype=F64)(merge(towers)))


@pytest.mark.parametrize("merge", [
    lambda: Add(dtype=F64), lambda: Subtract(dtype=F64), lambda: Multiply(dtype=F64),
    lambda: Average(dtype=F64), lambda: Maximum(dtype=F64), lambda: Minimum(dtype=F64),
    lambda: Concatenate(dtype=F64), lambda: Dot(1, normalize=True, dtype=F64),
], ids=["add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"])
def test_model_loss_gradients_through_a_merge(merge):
    rng = np.random.default_rng(3)
    model = _two_tower_model(lambda towers: merge()(towers))
    model.compile("sgd", loss="mse")
    report = check_model_gradients(model,
                                   [rng.standard_normal((6, 4)), rng.standard_normal((6, 3))],
                                   rng.standard_normal((6, 2)))
    assert len(report) == 6  # three Dense layers, kernel and bias each


def test_residual_and_shared_layer_gradients():
    """x -> shared Dense twice, a residual Add, a Concatenate of both branches, three inputs."""
    rng = np.random.default_rng(4)
    a, b = Input(shape=(3,), dtype=F64), Input(shape=(3,), dtype=F64)
    shared = Dense(3, activation="tanh", dtype=F64)
    ha, hb = shared(a), shared(b)
    residual = layers.add([ha, a], dtype=F64)
    joined = layers.concatenate([residual, hb, layers.maximum([ha, hb], dtype=F64)], dtype=F64)
    model = dd.Model([a, b], Dense(1, dtype=F64)(joined))
    model.compile("sgd", loss="mse")
    check_model_gradients(model, [rng.standard_normal((5, 3)), rng.standard_normal((5, 3))],
                          rng.standard_normal((5, 1)))


def test_merge_model_trains():
    rng = np.random.default_rng(5)
    x1, x2 = rng.standard_normal((256, 4)), rng.standard_normal((256, 4))
    y = (x1 * x2).sum(axis=1, keepdims=True)  # a dot product of the two inputs
    a, b = Input(shape=(4,)), Input(shape=(4,))
    model = dd.Model([a, b], layers.dot([Dense(4)(a), Dense(4)(b)], axes=1))
    model.compile(dd.optimizers.Adam(0.05), loss="mse")
    history = model.fit([x1, x2], y, epochs=20, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.05 * losses[0]
