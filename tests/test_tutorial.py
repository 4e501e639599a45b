"""The tutorial API (issue #4): shapes, caches, gradients, parity with Sequential and Adam,
errors."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import tutorial as tut
from dendrite.variables import Variable

ACTIVATIONS = ["sigmoid", "relu", "tanh", "leaky_relu", "softmax"]
FORWARD = {name: getattr(tut, name) for name in ACTIVATIONS}
BACKWARD = {name: getattr(tut, f"{name}_backward") for name in ACTIVATIONS}


def reference_activation(name, Z):
    """Plain NumPy versions, column layout."""
    if name == "sigmoid":
        return 1 / (1 + np.exp(-Z))
    if name == "relu":
        return np.maximum(0, Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "leaky_relu":
        return np.maximum(0.01 * Z, Z)
    e = np.exp(Z - Z.max(axis=0))
    return e / e.sum(axis=0)


def away_from_kinks(rng, shape):
    """Values with |z| >= 0.1, so a finite difference never crosses the kink of ReLU at 0."""
    Z = rng.standard_normal(shape)
    return np.where(np.abs(Z) < 0.1, np.sign(Z + 1e-12) * 0.1 + Z, Z)


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every element of x (in place)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + eps
        plus = f()
        x[index] = old - eps
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def small_problem(seed=0, dims=(4, 5, 3, 1), m=6, classes=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    if classes:
        Y = tut.convert_to_one_hot(rng.integers(0, classes, m), classes)
    else:
        Y = (rng.random((1, m)) > 0.5).astype(np.int64)
    parameters = tut.initialize_parameters_deep(list(dims), init="he_normal", seed=seed + 1)
    for key in parameters:  # nonzero biases: no Z lands exactly on the kink of ReLU at 0
        if key.startswith("b"):
            parameters[key] = rng.uniform(0.1, 0.3, parameters[key].shape)
    return X, Y, parameters


# ----------------------------------------------------------------------------- initialisation


def test_initialize_parameters_draws_like_the_course():
    parameters = tut.initialize_parameters(5, 4, 2)
    state = np.random.RandomState(1)
    np.testing.assert_array_equal(parameters["W1"], state.randn(4, 5) * 0.01)
    np.testing.assert_array_equal(parameters["W2"], state.randn(2, 4) * 0.01)
    assert parameters["b1"].shape == (4, 1) and not parameters["b1"].any()
    assert parameters["b2"].shape == (2, 1) and not parameters["b2"].any()
    assert all(value.dtype == np.float64 for value in parameters.values())


@pytest.mark.parametrize(
    ("init", "scale"),
    [
        ("scaled", lambda n, n_prev: 0.01),
        ("random", lambda n, n_prev: 10.0),
        ("sqrt", lambda n, n_prev: 1 / np.sqrt(n_prev)),
        ("he_normal", lambda n, n_prev: np.sqrt(2 / n_prev)),
        ("xavier_normal", lambda n, n_prev: np.sqrt(2 / (n + n_prev))),
    ],
)
def test_initialize_parameters_deep_normal_inits(init, scale):
    dims = [6, 4, 3, 1]
    parameters = tut.initialize_parameters_deep(dims, init=init, seed=3)
    state = np.random.RandomState(3)
    for layer in range(1, len(dims)):
        n, n_prev = dims[layer], dims[layer - 1]
        expected = state.randn(n, n_prev) * scale(n, n_prev)
        np.testing.assert_allclose(parameters[f"W{layer}"], expected, rtol=1e-15)
        np.testing.assert_array_equal(parameters[f"b{layer}"], np.zeros((n, 1)))


@pytest.mark.parametrize(
    ("init", "limit"),
    [
        ("he_uniform", lambda n, n_prev: np.sqrt(6 / n_prev)),
        ("xavier_uniform", lambda n, n_prev: np.sqrt(6 / (n + n_prev))),
    ],
)
def test_initialize_parameters_deep_uniform_inits(init, limit):
    dims = [300, 200]
    W = tut.initialize_parameters_deep(dims, init=init, seed=0)["W1"]
    bound = limit(200, 300)
    assert W.shape == (200, 300)
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.99 * bound  # fills the interval
    assert abs(W.std() - bound / np.sqrt(3)) < 0.02 * bound


def test_initialize_zeros_and_dtype():
    parameters = tut.initialize_parameters_deep([3, 2, 1], init="zeros", seed=0, dtype="float32")
    assert all(not value.any() and value.dtype == np.float32 for value in parameters.values())


def test_initialize_seed_none_follows_numpy_global_seed():
    np.random.seed(1)
    first = tut.initialize_parameters_deep([4, 3, 1], init="sqrt")
    np.random.seed(1)
    again = tut.initialize_parameters_deep([4, 3, 1], init="sqrt")
    np.testing.assert_array_equal(first["W1"], again["W1"])
    np.testing.assert_array_equal(
        first["W1"], tut.initialize_parameters_deep([4, 3, 1], init="sqrt", seed=1)["W1"]
    )


def test_initialize_errors():
    with pytest.raises(ValueError, match=r"Unknown initialization 'glorot'\. Valid names: .*'he_"):
        tut.initialize_parameters_deep([3, 2], init="glorot")
    with pytest.raises(ValueError, match=r"layer_dims must be a list of at least two positive"):
        tut.initialize_parameters_deep([3])
    with pytest.raises(ValueError, match=r"got layer_dims=\[3, 0, 1\]"):
        tut.initialize_parameters_deep([3, 0, 1])
    with pytest.raises(ValueError, match=r"n_h must be a positive integer; got n_h=2\.5"):
        tut.initialize_parameters(3, 2.5, 1)


# ----------------------------------------------------------------------------- forward


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_returns_value_and_cache(name):
    Z = np.random.default_rng(0).standard_normal((3, 4)) * 3
    A, cache = FORWARD[name](Z)
    np.testing.assert_allclose(A, reference_activation(name, Z), rtol=1e-12)
    assert cache is Z


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_matches_central_differences(name):
    rng = np.random.default_rng(1)
    Z = away_from_kinks(rng, (3, 4))
    dA = rng.standard_normal((3, 4))
    dZ = BACKWARD[name](dA, Z)
    numerical = numerical_gradient(lambda: float((dA * FORWARD[name](Z)[0]).sum()), Z)
    np.testing.assert_allclose(dZ, numerical, rtol=1e-6, atol=1e-9)


def test_sigmoid_saturates_without_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A, _ = tut.sigmoid(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_array_equal(A, [[0.0, 0.5, 1.0]])


def test_linear_forward_value_cache_and_dtype():
    rng = np.random.default_rng(2)
    A, W, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 4)), rng.standard_normal((3, 1))
    Z, cache = tut.linear_forward(A, W, b)
    np.testing.assert_allclose(Z, W @ A + b, rtol=1e-12)
    assert cache[0] is A and cache[1] is W and cache[2] is b
    Z32, _ = tut.linear_forward(A.astype(np.float32), W.astype(np.float32), b.astype(np.float32))
    assert Z32.dtype == np.float32 and Z32.shape == (3, 5)


def test_linear_forward_rejects_mismatched_shapes():
    with pytest.raises(
        ValueError,
        match=r"expected A \(n\[l-1\], m\), W \(n\[l\], n\[l-1\]\) and "
        r"b \(n\[l\], 1\); got A \(4, 5\), W \(3, 5\), b \(3, 1\)",
    ):
        tut.linear_forward(np.ones((4, 5)), np.ones((3, 5)), np.ones((3, 1)))


def test_linear_activation_forward_cache_structure():
    rng = np.random.default_rng(3)
    A_prev, W, b = rng.standard_normal((4, 2)), rng.standard_normal((3, 4)), np.zeros((3, 1))
    A, cache = tut.linear_activation_forward(A_prev, W, b, "relu")
    (cached_A, cached_W, cached_b), Z = cache
    assert cached_A is A_prev and cached_W is W and cached_b is b
    np.testing.assert_allclose(Z, W @ A_prev + b)
    np.testing.assert_allclose(A, np.maximum(Z, 0))


def test_linear_activation_forward_rejects_unknown_activation():
    with pytest.raises(ValueError, match=r"Unknown activation 'rleu'\. Valid names: .*'relu'"):
        tut.linear_activation_forward(np.ones((2, 1)), np.ones((1, 2)), np.zeros((1, 1)), "rleu")


def test_L_model_forward_shapes_and_caches():
    X, _, parameters = small_problem(m=7)
    AL, caches = tut.L_model_forward(X, parameters)
    assert AL.shape == (1, 7) and len(caches) == 3
    A = X
    for layer, cache in enumerate(caches, start=1):
        (A_prev, W, b), Z = cache
        assert A_prev is A if layer == 1 else np.allclose(A_prev, A)
        assert W is parameters[f"W{layer}"] and b is parameters[f"b{layer}"]
        np.testing.assert_allclose(Z, W @ A + b, rtol=1e-12)
        A = reference_activation("relu" if layer < 3 else "sigmoid", Z)
    np.testing.assert_allclose(AL, A, rtol=1e-12)


def test_L_model_forward_softmax_columns_sum_to_one():
    X, _, parameters = small_problem(dims=(4, 5, 3), classes=3)
    AL, _ = tut.L_model_forward(X, parameters, output_activation="softmax")
    np.testing.assert_allclose(AL.sum(axis=0), 1.0, rtol=1e-12)


def test_L_model_forward_dropout_masks():
    X, _, parameters = small_problem(m=50, dims=(4, 40, 30, 1))
    AL, caches = tut.L_model_forward(X, parameters, keep_prob=0.8, seed=5)
    assert [len(cache) for cache in caches] == [3, 3, 2]
    D1 = caches[0][2]
    assert set(np.unique(D1)) <= {0.0, 1 / 0.8} and 0 < (D1 == 0).mean() < 0.5
    np.testing.assert_allclose(caches[1][0][0], np.maximum(caches[0][1], 0) * D1)
    again, _ = tut.L_model_forward(X, parameters, keep_prob=0.8, seed=5)
    np.testing.assert_array_equal(AL, again)  # an int seed gives the same masks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_end_to_end(dtype):
    X, Y, _ = small_problem(m=8)
    X = X.astype(dtype)
    parameters = tut.initialize_parameters_deep([4, 5, 3, 1], init="he_normal", seed=0, dtype=dtype)
    AL, caches = tut.L_model_forward(X, parameters, keep_prob=0.9, seed=0)
    grads = tut.L_model_backward(AL, Y, caches, lambd=0.1)
    assert AL.dtype == dtype
    assert all(value.dtype == dtype for value in grads.values())
    trained, costs = tut.L_layer_model(
        X,
        Y,
        [4, 5, 3, 1],
        num_iterations=3,
        init="he_normal",
        optimizer="adam",
        lambd=0.1,
        keep_prob=0.9,
    )
    assert all(value.dtype == dtype for value in trained.values())
    assert len(costs) == 1 and np.isfinite(costs[0])


# ----------------------------------------------------------------------------- cost


def test_compute_cost_binary_matches_formula():
    AL = np.array([[0.8, 0.9, 0.4, 0.3]])
    Y = np.array([[1, 1, 0, 1]])
    expected = -np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    assert tut.compute_cost(AL, Y) == pytest.approx(expected, rel=1e-14)


def test_compute_cost_sums_over_units_and_averages_over_examples():
    rng = np.random.default_rng(4)
    AL, Y = rng.uniform(0.05, 0.95, (3, 5)), (rng.random((3, 5)) > 0.5).astype(float)
    expected = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / 5
    assert tut.compute_cost(AL, Y, loss="binary") == pytest.approx(expected, rel=1e-13)


def test_compute_cost_categorical_and_l2():
    rng = np.random.default_rng(5)
    AL, _ = tut.softmax(rng.standard_normal((4, 6)))
    Y = tut.convert_to_one_hot(rng.integers(0, 4, 6), 4)
    expected = -np.sum(Y * np.log(AL)) / 6
    assert tut.compute_cost(AL, Y) == pytest.approx(expected, rel=1e-13)
    parameters = {
        "W1": np.ones((2, 3)),
        "b1": np.ones((2, 1)),
        "W2": 2 * np.ones((4, 2)),
        "b2": np.ones((4, 1)),
    }
    l2 = 0.7 / (2 * 6) * (6 + 32)
    assert tut.compute_cost(AL, Y, parameters, lambd=0.7) == pytest.approx(expected + l2)
    assert tut.compute_cost_with_regularization(AL, Y, parameters, 0.7) == pytest.approx(
        expected + l2
    )


def test_compute_cost_is_finite_at_zero_and_one():
    AL = np.array([[0.0, 1.0, 1.0, 0.0]])
    Y = np.array([[0, 1, 0, 1]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        cost = tut.compute_cost(AL, Y)
    assert np.isfinite(cost) and cost > 5  # the two wrong answers cost -log(1e-7) each
    assert tut.compute_cost(np.array([[0.0, 1.0]]), np.array([[0, 1]])) < 1e-6


def test_compute_cost_errors():
    AL = np.full((1, 4), 0.5)
    with pytest.raises(
        ValueError,
        match=r"binary cross-entropy needs Y with values in \{0, 1\}; "
        r"got values \{0, 1, 2\}",
    ):
        tut.compute_cost(AL, np.array([[0, 1, 2, 1]]))
    with pytest.raises(
        ValueError,
        match=r"expected Y of the shape of AL, \(n_y, m\) = \(1, 4\); "
        r"got \(4,\): pass Y.reshape\(1, -1\)",
    ):
        tut.compute_cost(AL, np.array([0, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"got \(4, 1\), which looks like row layout"):
        tut.compute_cost(AL, np.ones((4, 1)))
    with pytest.raises(ValueError, match=r"one-hot columns .* column 1 sums to 2"):
        tut.compute_cost(np.full((2, 3), 0.5), np.array([[1, 1, 0], [0, 1, 1]]))
    with pytest.raises(ValueError, match=r"lambd=0.5 needs the parameters"):
        tut.compute_cost(AL, np.ones((1, 4)), lambd=0.5)


def test_convert_to_one_hot():
    np.testing.assert_array_equal(
        tut.convert_to_one_hot(np.array([[2, 0]]), 3), [[0, 1], [0, 0], [1, 0]]
    )
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\); got label 3"):
        tut.convert_to_one_hot([0, 3], 3)


# ----------------------------------------------------------------------------- backward


def test_linear_backward_matches_central_differences():
    rng = np.random.default_rng(6)
    A, W, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 4)), rng.standard_normal((3, 1))
    G = rng.standard_normal((3, 5))  # dZ
    _, cache = tut.linear_forward(A, W, b)
    dA_prev, dW, db = tut.linear_backward(G, cache)

    def objective():  # the tutorials' convention: dA is of the sum, dW and db of the mean
        return float((G * tut.linear_forward(A, W, b)[0]).sum())

    np.testing.assert_allclose(dA_prev, numerical_gradient(objective, A), rtol=1e-7)
    np.testing.assert_allclose(dW, numerical_gradient(objective, W) / 5, rtol=1e-7)
    np.testing.assert_allclose(db, numerical_gradient(objective, b) / 5, rtol=1e-7)
    np.testing.assert_allclose(dW, G @ A.T / 5, rtol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_linear_activation_backward_matches_central_differences(name):
    rng = np.random.default_rng(7)
    A, W, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 4)), rng.standard_normal((3, 1))
    G = rng.standard_normal((3, 5))
    _, cache = tut.linear_activation_forward(A, W, b, name)
    assert not (np.abs(cache[1]) < 1e-3).any()  # no Z near a kink
    dA_prev, dW, db = tut.linear_activation_backward(G, cache, name)

    def objective():
        return float((G * tut.linear_activation_forward(A, W, b, name)[0]).sum())

    np.testing.assert_allclose(dA_prev, numerical_gradient(objective, A), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dW, numerical_gradient(objective, W) / 5, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(db, numerical_gradient(objective, b) / 5, rtol=1e-6, atol=1e-9)


def test_L_model_backward_keys_and_course_formula():
    X, Y, parameters = small_problem()
    AL, caches = tut.L_model_forward(X, parameters)
    grads = tut.L_model_backward(AL, Y, caches)
    assert sorted(grads) == ["dA0", "dA1", "dA2", "dW1", "dW2", "dW3", "db1", "db2", "db3"]
    # the course's route: dAL = -(Y / AL - (1 - Y) / (1 - AL)), then sigmoid_backward
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    dA2, dW3, db3 = tut.linear_activation_backward(dAL, caches[2], "sigmoid")
    np.testing.assert_allclose(grads["dW3"], dW3, rtol=1e-10)
    np.testing.assert_allclose(grads["dA2"], dA2, rtol=1e-10)
    np.testing.assert_allclose(grads["db3"], db3, rtol=1e-10)
    assert "dA0" not in tut.L_model_backward(AL, Y, caches, need_dA0=False)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"lambd": 0.7},
        {"keep_prob": 0.8},
        {"lambd": 0.3, "keep_prob": 0.7},
        {"hidden_activation": "tanh"},
        {"hidden_activation": "leaky_relu"},
        {"hidden_activation": "sigmoid"},
    ],
    ids=["plain", "l2", "dropout", "l2+dropout", "tanh", "leaky_relu", "sigmoid"],
)
def test_gradient_check_n_passes(options, capsys):
    X, Y, parameters = small_problem(m=5)
    forward = {key: options[key] for key in ("hidden_activation", "keep_prob") if key in options}
    AL, caches = tut.L_model_forward(X, parameters, **forward, seed=0)
    grads = tut.L_model_backward(
        AL, Y, caches, options.get("hidden_activation", "relu"), lambd=options.get("lambd", 0.0)
    )
    if "keep_prob" in options:
        assert len(caches[0]) == 3  # a fixed mask was used
    difference = tut.gradient_check_n(parameters, grads, X, Y, print_msg=True, seed=0, **options)
    assert difference < 1e-7
    assert "works perfectly fine" in capsys.readouterr().out


def test_gradient_check_n_softmax_output():
    X, Y, parameters = small_problem(dims=(4, 5, 3), classes=3)
    AL, caches = tut.L_model_forward(X, parameters, output_activation="softmax")
    grads = tut.L_model_backward(AL, Y, caches, output_activation="softmax")
    assert tut.gradient_check_n(parameters, grads, X, Y, output_activation="softmax") < 1e-7


def test_gradient_check_n_fails_loudly_on_a_planted_error(capsys):
    X, Y, parameters = small_problem(m=5)
    AL, caches = tut.L_model_forward(X, parameters)
    grads = tut.L_model_backward(AL, Y, caches)
    grads["dW2"] = grads["dW2"].copy()
    grads["dW2"][1, 3] += 0.5
    difference = tut.gradient_check_n(parameters, grads, X, Y)  # print_msg False: still prints
    assert difference > 1e-2
    out = capsys.readouterr().out
    assert "There is a mistake in the backward propagation!" in out
    assert "furthest off: dW2[1, 3]" in out


def test_gradient_check_n_catches_a_dropout_mask_mismatch():
    X, Y, parameters = small_problem(m=5)
    AL, caches = tut.L_model_forward(X, parameters, keep_prob=0.5, seed=1)
    grads = tut.L_model_backward(AL, Y, caches)
    assert tut.gradient_check_n(parameters, grads, X, Y, keep_prob=0.5, seed=2) > 1e-3


def test_dictionary_vector_round_trip():
    _, _, parameters = small_problem()
    theta, keys = tut.dictionary_to_vector(parameters)
    assert theta.shape == (20 + 5 + 15 + 3 + 3 + 1, 1) and keys[0] == "W1" and keys[-1] == "b3"
    back = tut.vector_to_dictionary(theta, parameters)
    for key, value in parameters.items():
        np.testing.assert_array_equal(back[key], value)
    grads = {f"d{key}": value for key, value in parameters.items()}
    np.testing.assert_array_equal(tut.gradients_to_vector(grads), theta)


# ----------------------------------------------------------------------------- optimisation


def test_update_parameters_is_gradient_descent_and_pure():
    _, _, parameters = small_problem()
    grads = {f"d{key}": np.ones_like(value) for key, value in parameters.items()}
    before = {key: value.copy() for key, value in parameters.items()}
    updated = tut.update_parameters(parameters, grads, 0.1)
    for key in parameters:
        np.testing.assert_array_equal(parameters[key], before[key])
        np.testing.assert_allclose(updated[key], before[key] - 0.1)


def test_momentum_rmsprop_adagrad_one_step():
    W, g = np.array([[1.0, -2.0]]), np.array([[0.5, -0.25]])
    parameters, grads = {"W1": W, "b1": np.zeros((1, 1))}, {"dW1": g, "db1": np.ones((1, 1))}
    v = tut.initialize_velocity(parameters)
    assert sorted(v) == ["dW1", "db1"] and not v["dW1"].any()
    updated, v = tut.update_parameters_with_momentum(
        parameters, grads, v, beta=0.9, learning_rate=0.1
    )
    np.testing.assert_allclose(v["dW1"], 0.1 * g)
    np.testing.assert_allclose(updated["W1"], W - 0.1 * 0.1 * g)
    updated, s = tut.update_parameters_with_rmsprop(
        parameters,
        grads,
        tut.initialize_rmsprop(parameters),
        beta=0.9,
        learning_rate=0.1,
        epsilon=1e-8,
    )
    np.testing.assert_allclose(s["dW1"], 0.1 * g * g)
    np.testing.assert_allclose(updated["W1"], W - 0.1 * g / (np.sqrt(0.1 * g * g) + 1e-8))
    s = tut.initialize_adagrad(parameters)
    for _ in range(2):
        updated, s = tut.update_parameters_with_adagrad(updated, grads, s, learning_rate=0.1)
    np.testing.assert_allclose(s["dW1"], 2 * g * g)


def test_adam_matches_dendrite_optimizers_adam_the_tutorial_way():
    rng = np.random.default_rng(8)
    _, _, parameters = small_problem()
    variables = [Variable(key, value.copy()) for key, value in parameters.items()]
    optimizer = dd.optimizers.Adam(
        learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8, epsilon_form="paper"
    )
    v, s = tut.initialize_adam(parameters)
    for t in range(1, 4):
        grads = {f"d{key}": rng.standard_normal(value.shape) for key, value in parameters.items()}
        parameters, v, s, v_corrected, s_corrected = tut.update_parameters_with_adam(
            parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8
        )
        optimizer.apply_gradients((grads[f"d{var.name}"], var) for var in variables)
        for variable in variables:
            np.testing.assert_allclose(
                variable.value, parameters[variable.name], rtol=1e-13, atol=1e-15
            )
    np.testing.assert_allclose(v_corrected["dW1"], v["dW1"] / (1 - 0.9**3))
    np.testing.assert_allclose(s_corrected["db2"], s["db2"] / (1 - 0.999**3))


def test_update_parameters_with_adam_rejects_t_zero():
    parameters = {"W1": np.ones((1, 1)), "b1": np.ones((1, 1))}
    v, s = tut.initialize_adam(parameters)
    with pytest.raises(ValueError, match=r"t must be a positive integer; got t=0"):
        tut.update_parameters_with_adam(parameters, v, v, s, 0)


def test_random_mini_batches():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((3, 148))
    Y = (X[:1] > 0).astype(float)
    batches = tut.random_mini_batches(X, Y, 64, seed=2)
    assert [batch_X.shape for batch_X, _ in batches] == [(3, 64), (3, 64), (3, 20)]
    permutation = np.random.RandomState(2).permutation(148)
    np.testing.assert_array_equal(
        np.concatenate([bx for bx, _ in batches], axis=1), X[:, permutation]
    )
    for batch_X, batch_Y in batches:
        np.testing.assert_array_equal(batch_Y, (batch_X[:1] > 0))
    assert len(tut.random_mini_batches(X, Y, 74)) == 2


# ----------------------------------------------------------------------------- models


def blobs(m=200, seed=0):
    """Two separable 2-D blobs, in column layout."""
    rng = np.random.default_rng(seed)
    Y = (rng.random((1, m)) > 0.5).astype(np.int64)
    X = rng.standard_normal((2, m)) * 0.7 + np.where(Y == 1, 1.5, -1.5)
    return X, Y


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "gd"},
        {"optimizer": "momentum", "mini_batch_size": 64},
        {"optimizer": "rmsprop", "mini_batch_size": 32},
        {"optimizer": "adagrad"},
        {"optimizer": "adam", "mini_batch_size": 64},
        {"lambd": 0.5},
        {"keep_prob": 0.8},
    ],
    ids=["gd", "momentum", "rmsprop", "adagrad", "adam", "l2", "dropout"],
)
def test_L_layer_model_learns(options):
    X, Y = blobs()
    parameters, costs = tut.L_layer_model(
        X,
        Y,
        [2, 8, 4, 1],
        learning_rate=0.05,
        num_iterations=300,
        init="he_normal",
        seed=1,
        print_every=50,
        **options,
    )
    assert len(costs) == 6
    assert costs[-1] < 0.5 * costs[0]
    assert tut.accuracy(X, Y, parameters) > 0.95


def test_L_layer_model_prints_like_the_course(capsys):
    X, Y = blobs(50)
    _, costs = tut.L_layer_model(
        X, Y, [2, 3, 1], num_iterations=201, print_cost=True, init="he_normal"
    )
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "Cost after iteration 0",
        "Cost after iteration 100",
        "Cost after iteration 200",
    ]
    assert float(lines[0].split(": ")[1]) == costs[0] and len(costs) == 3
    _, _ = tut.L_layer_model(
        X, Y, [2, 3, 1], num_iterations=2, print_cost=True, mini_batch_size=16, optimizer="adam"
    )
    assert capsys.readouterr().out.splitlines()[-1].startswith("Cost after epoch 1: ")


def test_L_layer_model_is_reproducible():
    X, Y = blobs(64)
    run = [
        tut.L_layer_model(
            X,
            Y,
            [2, 4, 1],
            num_iterations=20,
            mini_batch_size=16,
            keep_prob=0.8,
            optimizer="adam",
            seed=7,
        )[1]
        for _ in range(2)
    ]
    assert run[0] == run[1]


def test_L_layer_model_softmax_multiclass():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 3, 300)
    centres = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])
    X = (centres[labels] + rng.standard_normal((300, 2)) * 0.6).T
    Y = tut.convert_to_one_hot(labels, 3)
    parameters, costs = tut.L_layer_model(
        X,
        Y,
        [2, 8, 3],
        learning_rate=0.1,
        num_iterations=200,
        init="he_normal",
        output_activation="softmax",
    )
    assert costs[-1] < 0.3
    assert tut.accuracy(X, Y, parameters, output_activation="softmax") > 0.95
    predictions = tut.predict(X, labels.reshape(1, -1), parameters, output_activation="softmax")
    assert predictions.shape == (1, 300) and set(np.unique(predictions)) <= {0, 1, 2}


def test_two_layer_model_matches_L_layer_model_with_scaled_init():
    X, Y = blobs(40)
    two, costs_two = tut.two_layer_model(X, Y, (2, 3, 1), num_iterations=101, seed=1)
    deep, costs_deep = tut.L_layer_model(X, Y, [2, 3, 1], num_iterations=101, init="scaled", seed=1)
    assert costs_two == costs_deep
    for key in two:
        np.testing.assert_array_equal(two[key], deep[key])


def test_predict_prints_accuracy(capsys):
    X, Y = blobs(20)
    parameters = {"W1": np.array([[1.0, 1.0]]), "b1": np.zeros((1, 1))}
    predictions = tut.predict(X, Y, parameters)
    expected = ((X.sum(axis=0) > 0) == Y).mean()
    assert capsys.readouterr().out == f"Accuracy: {expected}\n"
    assert predictions.dtype == np.int64 and predictions.shape == (1, 20)
    assert tut.accuracy(X, Y, parameters) == expected
    assert tut.predict(X, None, parameters).shape == (1, 20)
    assert capsys.readouterr().out == ""


def test_plot_costs(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "costs.png"
    figure = tut.plot_costs([0.7, 0.5, 0.3], learning_rate=0.0075, path=path)
    axes = figure.axes[0]
    assert axes.get_title() == "Learning rate =0.0075"
    assert axes.get_xlabel() == "iterations (per hundreds)" and axes.get_ylabel() == "cost"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figure = tut.plot_costs({"gd": [0.7, 0.6], "adam": [0.7, 0.2]})
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["gd", "adam"]


def test_logistic_regression_course_examples():
    w, b = np.array([[1.0], [2.0]]), 2.0
    X, Y = np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]]), np.array([[1, 0, 1]])
    grads, cost = tut.propagate(w, b, X, Y)
    np.testing.assert_allclose(grads["dw"], [[0.99845601], [2.39507239]], rtol=1e-7)
    assert grads["db"] == pytest.approx(0.00145557813678, rel=1e-9)
    assert cost == pytest.approx(5.801545319394553, rel=1e-12)
    params, grads, costs = tut.optimize(w, b, X, Y, num_iterations=100, learning_rate=0.009)
    np.testing.assert_allclose(params["w"], [[0.19033591], [0.12259159]], rtol=1e-7)
    assert params["b"] == pytest.approx(1.92535983008, rel=1e-9)
    assert costs == [pytest.approx(5.801545319394553, rel=1e-12)]
    np.testing.assert_allclose(
        tut.predict_logistic(
            np.array([[0.1124579], [0.23106775]]),
            -0.3,
            np.array([[1.0, -1.1, -3.2], [1.2, 2.0, 0.1]]),
        ),
        [[1, 1, 0]],
    )
    w0, b0 = tut.initialize_with_zeros(2)
    assert w0.shape == (2, 1) and not w0.any() and b0 == 0.0


# ----------------------------------------------------------------------------- conversion


@pytest.mark.parametrize(
    ("dims", "activations"),
    [
        ([6, 5, 4, 1], ["relu", "relu", "sigmoid"]),
        ([6, 5, 3], ["tanh", "softmax"]),
        ([6, 4, 2], ["leaky_relu", "sigmoid"]),
    ],
)
def test_to_sequential_predicts_like_L_model_forward(dims, activations):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((dims[0], 9)) * 3
    parameters = tut.initialize_parameters_deep(dims, init="he_normal", seed=2)
    for key in parameters:
        if key.startswith("b"):
            parameters[key] = rng.standard_normal(parameters[key].shape)
    model = tut.to_sequential(parameters, activations)
    assert all(layer.dtype == "float64" for layer in model.layers)
    np.testing.assert_allclose(model.layers[0].kernel.value, parameters["W1"].T)
    expected, _ = tut.L_model_forward(X, parameters, activations[0], activations[-1])
    # a sigmoid output in a two-layer list is also the hidden activation of none: check all
    A = X
    for layer, name in enumerate(activations, start=1):
        A, _ = tut.linear_activation_forward(
            A, parameters[f"W{layer}"], parameters[f"b{layer}"], name
        )
    np.testing.assert_allclose(A, expected, rtol=1e-12)
    np.testing.assert_allclose(model.predict(X.T), expected.T, rtol=1e-6, atol=1e-12)


def test_from_sequential_round_trip():
    dd.config.set_floatx("float64")
    model = dd.Sequential(
        [
            dd.layers.Dense(5, activation="relu", input_shape=(4,)),
            dd.layers.Dense(3, activation="tanh"),
            dd.layers.Dense(1, activation="sigmoid"),
        ]
    )
    X = np.random.default_rng(12).standard_normal((4, 10))
    parameters, activations = tut.from_sequential(model)
    assert activations == ["relu", "tanh", "sigmoid"]
    assert parameters["W2"].shape == (3, 5) and parameters["b2"].shape == (3, 1)
    A = X
    for layer, name in enumerate(activations, start=1):
        A, _ = tut.linear_activation_forward(
            A, parameters[f"W{layer}"], parameters[f"b{layer}"], name
        )
    np.testing.assert_allclose(A.T, model.predict(X.T), rtol=1e-6, atol=1e-12)
    back = tut.to_sequential(parameters, activations)
    for original, copy in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(original, copy)


def test_conversion_errors():
    parameters = tut.initialize_parameters_deep([3, 2, 1], seed=0)
    with pytest.raises(ValueError, match=r"activations must be a list of 2 names"):
        tut.to_sequential(parameters, "relu")
    model = dd.Sequential(
        [
            dd.layers.Dense(2, input_shape=(3,), dtype="float64"),
            dd.layers.Dropout(0.5),
            dd.layers.Dense(1, dtype="float64"),
        ]
    )
    with pytest.raises(ValueError, match=r"every layer must be a Dense layer with a bias; layer 2"):
        tut.from_sequential(model)
    model = dd.Sequential([dd.layers.Dense(2, activation="elu", input_shape=(3,))])
    with pytest.raises(ValueError, match=r"layer 1 has activation 'elu'"):
        tut.from_sequential(model)


# ----------------------------------------------------------------------------- bad input


def test_row_layout_X_is_named():
    X, Y = np.zeros((209, 12288)), np.zeros((1, 209))
    expected = (
        r"L_layer_model: expected X in column layout \(n_x, m\) = \(12288, m\); got "
        r"\(209, 12288\), which looks like row layout \(m, n_x\): pass X\.T"
    )
    with pytest.raises(ValueError, match=expected):
        tut.L_layer_model(X, Y, [12288, 20, 7, 5, 1])
    with pytest.raises(ValueError, match=r"two_layer_model: expected X in column layout .* pass X"):
        tut.two_layer_model(X, Y, (12288, 7, 1))
    parameters = {"W1": np.zeros((1, 12288)), "b1": np.zeros((1, 1))}
    with pytest.raises(ValueError, match=r"L_model_forward: .*looks like row layout"):
        tut.L_model_forward(X, parameters)
    with pytest.raises(ValueError, match=r"predict: .*looks like row layout"):
        tut.predict(X, Y, parameters)


def test_mismatched_layer_dims_are_named():
    X, Y = np.zeros((5, 8)), np.zeros((1, 8))
    with pytest.raises(
        ValueError,
        match=r"expected X in column layout \(n_x, m\) = \(4, m\); got "
        r"\(5, 8\): X has 5 rows \(features\) but "
        r"layers_dims\[0\] says n_x = 4",
    ):
        tut.L_layer_model(X, Y, [4, 3, 1])
    with pytest.raises(ValueError, match=r"expected Y of shape \(2, m\) = \(2, 8\); got \(1, 8\)"):
        tut.L_layer_model(X, Y, [5, 3, 2], output_activation="softmax")
    with pytest.raises(ValueError, match=r"layers_dims must be \(n_x, n_h, n_y\)"):
        tut.two_layer_model(X, Y, [5, 3, 2, 1])
    parameters = tut.initialize_parameters_deep([5, 3, 1], seed=0)
    parameters["W2"] = np.zeros((1, 4))
    with pytest.raises(ValueError, match=r"expected W2 of shape \(n\[2\], 3\) .* got W2 \(1, 4\)"):
        tut.L_model_forward(X, parameters)


def test_bad_labels_are_named():
    X = np.zeros((3, 4))
    with pytest.raises(
        ValueError,
        match=r"L_layer_model: binary cross-entropy needs Y with values "
        r"in \{0, 1\}; got values \{0, 1, 3\}",
    ):
        tut.L_layer_model(X, np.array([[0, 1, 3, 1]]), [3, 2, 1])
    with pytest.raises(ValueError, match=r"got \(4,\): pass Y.reshape\(1, -1\)"):
        tut.L_layer_model(X, np.array([0, 1, 1, 1]), [3, 2, 1])
    with pytest.raises(ValueError, match=r"got \(4, 1\), which looks like row layout \(m, n_y\)"):
        tut.L_layer_model(X, np.zeros((4, 1)), [3, 2, 1])
    with pytest.raises(ValueError, match=r"convert_to_one_hot\(Y, 3\)"):
        tut.L_layer_model(X, np.array([[0, 1, 2, 1]]), [3, 2, 3], output_activation="softmax")


def test_other_bad_input():
    X, Y = np.zeros((3, 4)), np.zeros((1, 4))
    with pytest.raises(ValueError, match=r"expected a float X; got dtype uint8"):
        tut.L_layer_model(X.astype(np.uint8), Y, [3, 2, 1])
    with pytest.raises(ValueError, match=r"parameters\['W1'\] is float64 but X is float32"):
        tut.L_model_forward(X.astype(np.float32), tut.initialize_parameters_deep([3, 1], seed=0))
    with pytest.raises(
        ValueError,
        match=r"keep_prob must be a float in \(0, 1\]; got "
        r"keep_prob=0",
    ):
        tut.L_layer_model(X, Y, [3, 2, 1], keep_prob=0)
    with pytest.raises(ValueError, match=r"Unknown optimizer 'sgd'\. Valid names: 'adagrad', "):
        tut.L_layer_model(X, Y, [3, 2, 1], optimizer="sgd")
    with pytest.raises(ValueError, match=r"Unknown output activation 'relu'"):
        tut.L_layer_model(X, Y, [3, 2, 1], output_activation="relu")
    with pytest.raises(ValueError, match=r"single example: pass X.reshape\(-1, 1\)"):
        tut.L_model_forward(np.zeros(3), tut.initialize_parameters_deep([3, 1], seed=0))
    with pytest.raises(TypeError, match=r"parameters must be a dict"):
        tut.L_model_forward(X, [np.zeros((1, 3))])
