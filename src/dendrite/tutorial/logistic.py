"""Logistic regression "with a neural network mindset", the course's first programming exercise.

One sigmoid unit on column-layout inputs: A = sigmoid(w^T X + b) with ``w`` of shape (n_x, 1) and
a scalar ``b``, trained by gradient descent on the binary cross-entropy. The forward and backward
passes are :func:`linear_activation_forward` and the linear kernel with W = w^T (1, n_x).
"""

from dendrite.backend import host as np
from dendrite.tutorial._checks import check_binary, check_positive_int, check_X, check_Y
from dendrite.tutorial.backward import _linear_backward
from dendrite.tutorial.cost import compute_cost
from dendrite.tutorial.forward import linear_activation_forward


def initialize_with_zeros(dim, dtype="float64"):
    """``(w, b)``: w zeros of shape (dim, 1) and b = 0.0, as the course starts."""
    return np.zeros((check_positive_int(dim, "initialize_with_zeros", "dim"), 1), dtype=dtype), 0.0


def _forward(w, b, X):
    return linear_activation_forward(X, w.T, np.full((1, 1), b, dtype=X.dtype), "sigmoid")


def propagate(w, b, X, Y):
    """Cost and gradients of logistic regression.

    Args:
        w: weights (n_x, 1). b: bias, a scalar. X: inputs (n_x, m). Y: labels (1, m), 0 or 1.

    Returns:
        ``(grads, cost)``: grads ``{"dw": (n_x, 1), "db": float}`` with dw = 1/m X (A - Y)^T and
        db = 1/m sum(A - Y); cost = -1/m sum(Y log A + (1 - Y) log(1 - A)), a float.

    Example:
        >>> import numpy as np
        >>> grads, cost = propagate(np.array([[1.0], [2.0]]), 2.0,
        ...                         np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]]),
        ...                         np.array([[1, 0, 1]]))
        >>> round(cost, 6), round(grads["db"], 6)
        (5.801545, 0.001456)
    """
    A, cache = _forward(w, b, X)
    cost = compute_cost(A, Y)
    Y = np.asarray(Y).astype(A.dtype, copy=False)
    _, dW, db = _linear_backward(A - Y, cache[0], need_dA_prev=False)  # dZ = A - Y
    return {"dw": dW.T, "db": float(db[0, 0])}, cost


def optimize(w, b, X, Y, num_iterations=100, learning_rate=0.009, print_cost=False):
    """Gradient descent on :func:`propagate`, recording the cost every 100 iterations.

    Returns:
        ``(params, grads, costs)``: ``{"w", "b"}`` after training, the last gradients and the
        costs at iterations 0, 100, ... (printed as "Cost after iteration 100: 0.584508" with
        ``print_cost``).
    """
    costs, grads = [], None
    for i in range(num_iterations):
        grads, cost = propagate(w, b, X, Y)
        w = w - learning_rate * grads["dw"]
        b = b - learning_rate * grads["db"]
        if i % 100 == 0:
            costs.append(cost)
            if print_cost:
                print(f"Cost after iteration {i}: {cost:f}")
    return {"w": w, "b": b}, grads, costs


def predict_logistic(w, b, X):
    """The course's logistic ``predict(w, b, X)``: 1 where sigmoid(w^T X + b) > 0.5, else 0.

    Returns:
        int64 array (1, m).
    """
    A, _ = _forward(w, b, X)
    return (A > 0.5).astype(np.int64)


def logistic_regression_model(
    X_train, Y_train, X_test, Y_test, num_iterations=2000, learning_rate=0.5, print_cost=False
):
    """The course's ``model``: logistic regression from zero weights, then its accuracies.

    With the cat data (X / 255), ``num_iterations=2000`` and ``learning_rate=0.005`` it prints
    "train accuracy: 99.04306220095694 %" and "test accuracy: 70.0 %".

    Args:
        X_train: (n_x, m_train), float. Y_train: (1, m_train), 0 or 1.
        X_test: (n_x, m_test). Y_test: (1, m_test).
        num_iterations: default 2000. learning_rate: default 0.5 (the course's signature; its
            run uses 0.005). print_cost: print the costs and the two accuracies.

    Returns:
        dict with "costs", "Y_prediction_test" (1, m_test), "Y_prediction_train" (1, m_train),
        "w" (n_x, 1), "b", "learning_rate" and "num_iterations".
    """
    who = "logistic_regression_model"
    if getattr(X_train, "ndim", 0) != 2:
        raise ValueError(
            f"{who}: expected X_train in column layout (n_x, m); got "
            f"{getattr(X_train, 'shape', type(X_train).__name__)}"
        )
    n_x, m_train = X_train.shape
    m_labels = np.shape(Y_train)[-1] if np.ndim(Y_train) else None
    if m_labels == n_x != m_train:
        raise ValueError(
            f"{who}: expected X_train in column layout (n_x, m); got "
            f"{X_train.shape}, which looks like row layout (m, n_x) for the "
            f"{m_labels} labels of Y_train: pass X_train.T"
        )
    X_train = check_X(X_train, n_x, who, "X_train", name="X_train")
    X_test = check_X(X_test, n_x, who, f"X_train of shape {X_train.shape}", name="X_test")
    Y_train = check_Y(Y_train, 1, X_train.shape[1], who, "logistic regression", "Y_train")
    Y_test = check_Y(Y_test, 1, X_test.shape[1], who, "logistic regression", "Y_test")
    check_binary(Y_train, who, "Y_train")
    w, b = initialize_with_zeros(n_x, X_train.dtype)
    params, _, costs = optimize(
        w,
        b,
        X_train,
        Y_train.astype(X_train.dtype, copy=False),
        num_iterations,
        learning_rate,
        print_cost,
    )
    w, b = params["w"], params["b"]
    Y_prediction_test = predict_logistic(w, b, X_test)
    Y_prediction_train = predict_logistic(w, b, X_train)
    if print_cost:
        print(f"train accuracy: {100 - np.mean(np.abs(Y_prediction_train - Y_train)) * 100} %")
        print(f"test accuracy: {100 - np.mean(np.abs(Y_prediction_test - Y_test)) * 100} %")
    return {
        "costs": costs,
        "Y_prediction_test": Y_prediction_test,
        "Y_prediction_train": Y_prediction_train,
        "w": w,
        "b": b,
        "learning_rate": learning_rate,
        "num_iterations": num_iterations,
    }
