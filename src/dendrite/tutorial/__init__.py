"""The deep-learning tutorials' function-level API, over the kernels the layers use.

Column layout throughout: X is (n_x, m), one column per example; Y is (n_y, m); ``W{l}`` is
(n[l], n[l-1]) and ``b{l}`` is (n[l], 1) in a ``parameters`` dict. Each function keeps the
tutorials' name, arguments, return values and caches (``cache = ((A_prev, W, b), Z)``), and runs
its math in :mod:`dendrite.kernels` and :mod:`dendrite.activations` on transposed views, so a
learner can move from the notebook to :class:`dendrite.Sequential` (see :func:`to_sequential`)
and get the same numbers.

Example:
    >>> import numpy as np
    >>> from dendrite import tutorial as tut
    >>> X = np.random.RandomState(0).randn(4, 6)
    >>> Y = np.array([[0, 1, 1, 0, 1, 0]])
    >>> parameters = tut.initialize_parameters_deep([4, 3, 1], init="he_normal", seed=1)
    >>> AL, caches = tut.L_model_forward(X, parameters)
    >>> AL.shape, len(caches)
    ((1, 6), 2)
    >>> grads = tut.L_model_backward(AL, Y, caches)
    >>> parameters = tut.update_parameters(parameters, grads, learning_rate=0.1)
"""

from dendrite.tutorial.backward import (
    L_model_backward,
    leaky_relu_backward,
    linear_activation_backward,
    linear_backward,
    relu_backward,
    sigmoid_backward,
    softmax_backward,
    tanh_backward,
)
from dendrite.tutorial.convert import from_sequential, to_sequential
from dendrite.tutorial.cost import (
    compute_cost,
    compute_cost_with_regularization,
    convert_to_one_hot,
)
from dendrite.tutorial.forward import (
    L_model_forward,
    leaky_relu,
    linear_activation_forward,
    linear_forward,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from dendrite.tutorial.gradient_check import (
    dictionary_to_vector,
    gradient_check_n,
    gradients_to_vector,
    vector_to_dictionary,
)
from dendrite.tutorial.initialization import initialize_parameters, initialize_parameters_deep
from dendrite.tutorial.logistic import (
    initialize_with_zeros,
    logistic_regression_model,
    optimize,
    predict_logistic,
    propagate,
)
from dendrite.tutorial.models import L_layer_model, accuracy, plot_costs, predict, two_layer_model
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
from dendrite.tutorial.regularization import (
    dropout_backward,
    dropout_forward,
    l2_regularization_cost,
    l2_regularization_gradient,
)

__all__ = [
    "L_layer_model",
    "L_model_backward",
    "L_model_forward",
    "accuracy",
    "compute_cost",
    "compute_cost_with_regularization",
    "convert_to_one_hot",
    "dictionary_to_vector",
    "dropout_backward",
    "dropout_forward",
    "from_sequential",
    "gradient_check_n",
    "gradients_to_vector",
    "initialize_adagrad",
    "initialize_adam",
    "initialize_parameters",
    "initialize_parameters_deep",
    "initialize_rmsprop",
    "initialize_velocity",
    "initialize_with_zeros",
    "l2_regularization_cost",
    "l2_regularization_gradient",
    "leaky_relu",
    "leaky_relu_backward",
    "linear_activation_backward",
    "linear_activation_forward",
    "linear_backward",
    "linear_forward",
    "logistic_regression_model",
    "optimize",
    "plot_costs",
    "predict",
    "predict_logistic",
    "propagate",
    "random_mini_batches",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
    "to_sequential",
    "two_layer_model",
    "update_parameters",
    "update_parameters_with_adagrad",
    "update_parameters_with_adam",
    "update_parameters_with_momentum",
    "update_parameters_with_rmsprop",
    "vector_to_dictionary",
]
