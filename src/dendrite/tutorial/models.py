"""The tutorials' models: ``two_layer_model``, ``L_layer_model``, ``predict`` and the cost plot.

A model is the course's loop: forward, cost, backward, update, with the cost printed (when
``print_cost``) and recorded every 100 iterations, and printed at the last iteration too:

    Cost after iteration 0: 0.6930497356599891

Everything runs in the dtype of X (float64 data, as plain NumPy gives, keeps float64
throughout; float32 stays float32).
"""

import os

from dendrite.backend import host as np
from dendrite.errors import lookup
from dendrite.tutorial._checks import (
    check_binary,
    check_keep_prob,
    check_layer_dims,
    check_non_negative,
    check_one_hot,
    check_positive_int,
    check_X,
    check_Y,
    num_layers,
)
from dendrite.tutorial.backward import L_model_backward
from dendrite.tutorial.cost import compute_cost, loss_for_output
from dendrite.tutorial.forward import L_model_forward, get_activation
from dendrite.tutorial.initialization import initialize_parameters, initialize_parameters_deep
from dendrite.tutorial.optimization import (
    initialize_adagrad,
    initialize_adam,
    initialize_rmsprop,
    initialize_velocity,
    random_mini_batches,
    update_parameters,
    update_parameters_with_adagrad,
    update_parameters_with_adam,
    update_parameters_with_momentum,
    update_parameters_with_rmsprop,
)
from dendrite.tutorial.regularization import dropout_generator

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adagrad", "adam")


def two_layer_model(
    X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000, print_cost=False, seed=1
):
    """LINEAR -> RELU -> LINEAR -> SIGMOID, trained by gradient descent (the course's model).

    Parameters come from :func:`initialize_parameters` (randn * 0.01 from ``RandomState(seed)``).
    With the course's cat data, ``layers_dims=(12288, 7, 1)`` and 2500 iterations this prints
    ``Cost after iteration 0: 0.693049735659989`` and reaches train accuracy 1.0, test 0.72.

    Args:
        X: inputs (n_x, m), float. Y: labels (1, m), 0 or 1.
        layers_dims: ``(n_x, n_h, n_y)``.
        learning_rate: default 0.0075. num_iterations: default 3000.
        print_cost: print the cost every 100 iterations and at the last one. Default False.
        seed: seed of the initial weights. Default 1.

    Returns:
        ``(parameters, costs)``: the trained ``W1, b1, W2, b2`` and the costs at iterations
        0, 100, 200 ...
    """
    who = "two_layer_model"
    dims = check_layer_dims(layers_dims, who, "layers_dims")
    if len(dims) != 3:
        raise ValueError(f"{who}: layers_dims must be (n_x, n_h, n_y); got {layers_dims!r}")
    X, Y = _check_data(X, Y, dims, "relu", "sigmoid", who)
    parameters = initialize_parameters(*dims, seed=seed, dtype=X.dtype)
    return _train(X, Y, parameters, learning_rate, num_iterations, print_cost, who)


def L_layer_model(
    X,
    Y,
    layers_dims,
    learning_rate=0.0075,
    num_iterations=3000,
    print_cost=False,
    init="sqrt",
    seed=1,
    optimizer="gd",
    mini_batch_size=None,
    lambd=0.0,
    keep_prob=1.0,
    hidden_activation="relu",
    output_activation="sigmoid",
    beta=0.9,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    print_every=100,
):
    """[LINEAR -> RELU]*(L-1) -> LINEAR -> SIGMOID (or SOFTMAX), the course's deep model.

    With the defaults (the course's ``initialize_parameters_deep``: randn / sqrt(n[l-1]) from
    ``RandomState(1)``) and ``layers_dims=[12288, 20, 7, 5, 1]`` on the cat data for 2500
    iterations it prints ``Cost after iteration 0: 0.7717493284237686`` and reaches train
    accuracy 0.986, test 0.80. With ``init="scaled"`` (randn * 0.01) the gradients vanish: the
    cost stays near 0.64 and every test image is called non-cat (test accuracy 0.34).

    Args:
        X: inputs (n_x, m), float. Y: labels (n_y, m): 0/1 for a sigmoid output, one-hot
            columns for a softmax.
        layers_dims: [n_x, n_1, ..., n_y].
        learning_rate: default 0.0075. num_iterations: passes over the data (epochs when
            ``mini_batch_size`` is set). Default 3000.
        print_cost: print the cost every ``print_every`` iterations and at the last one.
        init: an initialisation of :func:`initialize_parameters_deep`. Default "sqrt".
        seed: int seed of the initial weights (the mini-batches of iteration i use seed + 1 + i,
            the dropout masks a generator seeded with seed), or None for the global generators.
            Default 1.
        optimizer: "gd" (default), "momentum", "rmsprop", "adagrad" or "adam".
        mini_batch_size: None (default) for full-batch steps, else the size of the
            :func:`random_mini_batches` of each iteration.
        lambd: L2 regularisation factor. Default 0.
        keep_prob: dropout keep probability of the hidden layers. Default 1 (no dropout).
        hidden_activation: default "relu". output_activation: "sigmoid" (default) or
            "softmax".
        beta: momentum's and RMSprop's decay. Default 0.9. beta1, beta2, epsilon: Adam's
            (0.9, 0.999, 1e-8; epsilon is also RMSprop's and Adagrad's).
        print_every: how often the cost is recorded and printed. Default 100.

    Returns:
        ``(parameters, costs)``: the trained parameters and the costs of iterations 0,
        print_every, 2 print_every ... (with mini-batches, each the mean over the epoch).

    Raises:
        ValueError: X in row layout (m, n_x), X or Y not matching ``layers_dims``, Y outside
            {0, 1} for a sigmoid output, or a bad option.
    """
    who = "L_layer_model"
    dims = check_layer_dims(layers_dims, who, "layers_dims")
    X, Y = _check_data(X, Y, dims, hidden_activation, output_activation, who)
    lookup("optimizer", optimizer, dict.fromkeys(OPTIMIZERS))
    if mini_batch_size is not None:
        check_positive_int(mini_batch_size, who, "mini_batch_size")
    parameters = initialize_parameters_deep(dims, init, seed, X.dtype)
    return _train(
        X,
        Y,
        parameters,
        learning_rate,
        num_iterations,
        print_cost,
        who,
        seed=seed,
        optimizer=optimizer,
        mini_batch_size=mini_batch_size,
        lambd=check_non_negative(lambd, who, "lambd"),
        keep_prob=check_keep_prob(keep_prob, who),
        hidden_activation=hidden_activation,
        output_activation=output_activation,
        beta=beta,
        beta1=beta1,
        beta2=beta2,
        epsilon=epsilon,
        print_every=check_positive_int(print_every, who, "print_every"),
    )


def _check_data(X, Y, dims, hidden_activation, output_activation, who):
    """X (n_x, m) float and Y (n_y, m) valid for the output's cost, Y in X's dtype."""
    X = check_X(X, dims[0], who, "layers_dims[0]")
    Y = check_Y(Y, dims[-1], X.shape[1], who, f"layers_dims[-1] = {dims[-1]}")
    get_activation(hidden_activation)
    if loss_for_output(output_activation) == "binary":
        check_binary(Y, who)
    else:
        check_one_hot(Y, who)
    return X, Y.astype(X.dtype, copy=False)


def _optimizer_step(
    optimizer, parameters, grads, state, t, learning_rate, beta, beta1, beta2, epsilon
):
    if optimizer == "gd":
        return update_parameters(parameters, grads, learning_rate), state
    if optimizer == "momentum":
        return update_parameters_with_momentum(parameters, grads, state, beta, learning_rate)
    if optimizer == "rmsprop":
        return update_parameters_with_rmsprop(
            parameters, grads, state, beta, learning_rate, epsilon
        )
    if optimizer == "adagrad":
        return update_parameters_with_adagrad(parameters, grads, state, learning_rate, epsilon)
    parameters, v, s, _, _ = update_parameters_with_adam(
        parameters, grads, *state, t, learning_rate, beta1, beta2, epsilon
    )
    return parameters, (v, s)


_INITIAL_STATE = {
    "gd": lambda parameters: None,
    "momentum": initialize_velocity,
    "rmsprop": initialize_rmsprop,
    "adagrad": initialize_adagrad,
    "adam": initialize_adam,
}


def _train(
    X,
    Y,
    parameters,
    learning_rate,
    num_iterations,
    print_cost,
    who,
    seed=1,
    optimizer="gd",
    mini_batch_size=None,
    lambd=0.0,
    keep_prob=1.0,
    hidden_activation="relu",
    output_activation="sigmoid",
    beta=0.9,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    print_every=100,
):
    check_non_negative(learning_rate, who, "learning_rate")
    num_iterations = check_positive_int(num_iterations, who, "num_iterations")
    loss = loss_for_output(output_activation)
    state = _INITIAL_STATE[optimizer](parameters)
    masks = dropout_generator(seed) if keep_prob < 1 else None
    unit = "iteration" if mini_batch_size is None else "epoch"
    m = X.shape[1]
    costs, t = [], 0
    for i in range(num_iterations):
        if mini_batch_size is None:
            batches = [(X, Y)]
        else:
            batch_seed = None if seed is None else seed + 1 + i
            batches = random_mini_batches(X, Y, mini_batch_size, batch_seed)
        total = 0.0
        for batch_X, batch_Y in batches:
            AL, caches = L_model_forward(
                batch_X, parameters, hidden_activation, output_activation, keep_prob, masks
            )
            total += compute_cost(AL, batch_Y, parameters, lambd, loss) * batch_X.shape[1]
            grads = L_model_backward(
                AL, batch_Y, caches, hidden_activation, output_activation, lambd, need_dA0=False
            )
            t += 1
            parameters, state = _optimizer_step(
                optimizer, parameters, grads, state, t, learning_rate, beta, beta1, beta2, epsilon
            )
        cost = total / m
        if print_cost and (i % print_every == 0 or i == num_iterations - 1):
            print(f"Cost after {unit} {i}: {cost}")
        if i % print_every == 0:
            costs.append(cost)
    return parameters, costs


def _predictions(X, parameters, hidden_activation, output_activation, who):
    """0/1 predictions (1, m) for one output unit, class indices (1, m) for several."""
    num_layers(parameters, who)
    W1 = parameters["W1"]
    X = check_X(X, W1.shape[1], who, f"W1 of shape {W1.shape}")
    AL, _ = L_model_forward(X, parameters, hidden_activation, output_activation)
    if AL.shape[0] == 1:
        return (AL > 0.5).astype(np.int64)
    return AL.argmax(axis=0).reshape(1, -1)


def _labels(y, n_y, m, who):
    """y as (1, m) labels: 0/1 for one output unit; class indices (from one-hot columns too)."""
    y = np.asarray(y)
    if n_y > 1 and y.shape == (n_y, m):
        return y.argmax(axis=0).reshape(1, -1)
    return check_Y(y, 1, m, who, "the predictions", name="y")


def accuracy(X, y, parameters, hidden_activation="relu", output_activation="sigmoid"):
    """The fraction of examples of X whose prediction equals y.

    Args:
        X: inputs (n_x, m). y: labels (1, m) (0/1, or class indices), or one-hot (n_y, m).
        parameters: the trained parameters. hidden_activation, output_activation: the model's.

    Returns:
        A float in [0, 1], e.g. 0.72 for 36 right out of 50.
    """
    predictions = _predictions(X, parameters, hidden_activation, output_activation, "accuracy")
    labels = _labels(
        y,
        parameters[f"W{num_layers(parameters, 'accuracy')}"].shape[0],
        predictions.shape[1],
        "accuracy",
    )
    return float((predictions == labels).sum() / predictions.shape[1])


def predict(X, y, parameters, hidden_activation="relu", output_activation="sigmoid"):
    """Predict with the L-layer network and print ``Accuracy: ...`` as the course does.

    One output unit: 1 where AL > 0.5, else 0. Several units: the index of the largest output.

    Args:
        X: inputs (n_x, m). y: labels (1, m) (or one-hot (n_y, m)) to print the accuracy
            against, or None to print nothing.
        parameters: the trained parameters. hidden_activation, output_activation: the model's.

    Returns:
        p: int64 predictions (1, m).
    """
    predictions = _predictions(X, parameters, hidden_activation, output_activation, "predict")
    if y is not None:
        n_y = parameters[f"W{num_layers(parameters, 'predict')}"].shape[0]
        labels = _labels(y, n_y, predictions.shape[1], "predict")
        print(f"Accuracy: {float((predictions == labels).sum() / predictions.shape[1])}")
    return predictions


def plot_costs(costs, learning_rate=None, path=None, print_every=100, axes=None):
    """Plot the cost every ``print_every`` iterations, as the course's cost figure.

    Needs matplotlib (``pip install dendrite[plot]``). The figure is made without pyplot (an
    Agg canvas), so it works without a display and leaves no global state; a notebook shows the
    returned figure, and ``path`` saves it.

    Args:
        costs: a list of costs (from a model), or a dict ``label -> list`` for several curves
            in one figure with a legend.
        learning_rate: shown in the title ("Learning rate =0.0075", the course's), or None.
        path: file to save the figure to (PNG, PDF ...), or None.
        print_every: iterations between two costs, for the x-axis label. Default 100.
        axes: a matplotlib ``Axes`` to draw into (one panel of a larger figure), or None
            (default) for a new figure.

    Returns:
        The matplotlib ``Figure`` (the one holding ``axes`` when given).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "plot_costs needs matplotlib: pip install dendrite[plot] (or pip install matplotlib)"
        ) from error
    curves = costs if isinstance(costs, dict) else {None: costs}
    if axes is None:
        figure = Figure(figsize=(6.4, 4.8))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
    figure = axes.figure
    for label, values in curves.items():
        axes.plot(np.squeeze(np.asarray(values, dtype=np.float64)), label=label)
    axes.set_ylabel("cost")
    axes.set_xlabel(f"iterations (per {'hundreds' if print_every == 100 else print_every})")
    if learning_rate is not None:
        axes.set_title(f"Learning rate ={learning_rate}")
    if isinstance(costs, dict):
        axes.legend()
    if path is not None:
        figure.savefig(os.fspath(path))
    return figure
