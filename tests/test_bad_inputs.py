"""Bad and edge inputs across the public API are refused at the door (#12).

Each case gives the exact exception type and a pattern that names the argument and the value
received (or, for data, the problem and the numbers). The cases were collected by trying the API
as a new user would: wrong types, out-of-range numbers, empty data, mismatched shapes, strings
where numbers belong, and damaged files.
"""

import gzip
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import dendrite as dd
from dendrite import (
    callbacks,
    cli,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    optimizers,
    regularizers,
    schedules,
    utils,
)
from dendrite.datasets import fashion_mnist
from dendrite.errors import check_choice, check_number
from dendrite.layers import Dense, Input

RNG = np.random.default_rng(0)
X = RNG.standard_normal((12, 4)).astype("float32")
Y = RNG.integers(0, 3, 12)
Y_BINARY = RNG.integers(0, 2, (12, 1)).astype("float32")


def classifier():
    dd.utils.set_random_seed(0)
    model = dd.Sequential([Input(shape=(4,)), Dense(3, activation="softmax", name="out")],
                          name="clf")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def binary():
    model = dd.Sequential([Input(shape=(4,)), Dense(1, activation="sigmoid")], name="bin")
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    return model


def two_outputs():
    inputs = Input(shape=(4,))
    model = dd.Model(inputs, [Dense(3, activation="softmax", name="a")(inputs),
                              Dense(2, activation="softmax", name="b")(inputs)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def fit(**kwargs):
    arguments = {"x": X, "y": Y, "verbose": 0, **kwargs}
    return classifier().fit(**arguments)


def fit_stream(source, **kwargs):
    return classifier().fit(source, verbose=0, **kwargs)


def evaluate(**kwargs):
    return classifier().evaluate(**{"x": X, "y": Y, "verbose": 0, **kwargs})


def predict(**kwargs):
    return classifier().predict(**{"x": X, "verbose": 0, **kwargs})


def ragged():
    return [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]]


def generator(batches):
    yield from batches


# (id, thunk, exception type, pattern naming the argument and the received value)
CASES = [
    # ------------------------------------------------------------------ fit: data
    ("fit x=None", lambda: fit(x=None), TypeError, r"fit: x must be an array.*; got x=None"),
    ("fit complex x", lambda: fit(x=X.astype(complex)), TypeError,
     r"fit must hold real numbers .*complex dtype complex128 and shape \(12, 4\)"),
    ("fit string x", lambda: fit(x=np.array([["a"] * 4] * 12)), TypeError,
     r"fit must hold real numbers .*string dtype <U1"),
    ("fit object x", lambda: fit(x=np.array([object()] * 12)), TypeError,
     r"fit must hold real numbers .*object"),
    ("fit ragged x", lambda: fit(x=ragged(), y=Y[:2]), ValueError,
     r"fit must be a rectangular array .*got a ragged list"),
    ("fit scalar x", lambda: fit(x=np.float32(3)), ValueError,
     r"fit must have a batch axis \(one entry per sample\); got the scalar np.float32\(3.0\)"),
    ("fit scalar sample_weight", lambda: fit(sample_weight=2.0), ValueError,
     r"fit: sample_weight must have a batch axis .*; got the scalar 2.0"),
    ("compile loss_weights negative", lambda: classifier().compile(
        loss="sparse_categorical_crossentropy", loss_weights=[-1.0]), ValueError,
     r"compile: loss_weights must be non-negative numbers; got loss_weights=-1.0"),
    ("compile loss_weights str", lambda: classifier().compile(loss="mse", loss_weights="1"),
     ValueError, r"got loss_weights='1'"),
    ("compile loss_weights scalar for two outputs", lambda: two_outputs().compile(
        loss="mse", loss_weights=0.5), ValueError,
     r"loss_weights must be a list or dict with one number per output \(2\); got loss_weight"),
    ("fit dict x", lambda: fit(x={"a": X}), ValueError, r"x .*must have exactly the keys"),
    ("fit zero samples", lambda: fit(x=X[:0], y=Y[:0]), ValueError,
     r"fit: x must hold at least one sample; got 0 samples"),
    ("fit y=None", lambda: fit(y=None), ValueError, r"fit needs targets y"),
    ("fit complex y", lambda: fit(y=Y.astype(complex)), TypeError,
     r"fit: y must hold real numbers"),
    ("fit string y", lambda: fit(y=np.array(["cat"] * 12)), TypeError,
     r"fit: y must hold real numbers .*string"),
    ("fit x/y lengths", lambda: fit(y=Y[:5]), ValueError,
     r"x and y must have the same number of samples; got 12 and 5"),
    ("fit wrong feature count", lambda: fit(x=X[:, :3]), ValueError,
     r"expected input .*of shape \(batch, 4\); got \(12, 3\)"),
    ("fit negative sample_weight", lambda: fit(sample_weight=-np.ones(12)), ValueError,
     r"sample_weight must be finite and non-negative; got a weight -1"),
    ("fit NaN sample_weight", lambda: fit(sample_weight=np.full(12, np.nan)), ValueError,
     r"sample_weight must be finite and non-negative; got a weight nan"),
    ("fit sample_weight 2-d", lambda: fit(sample_weight=np.ones((12, 2))), ValueError,
     r"sample_weight must have shape \(12,\) .*got shape \(12, 2\)"),
    ("fit sample_weight length", lambda: fit(sample_weight=np.ones(11)), ValueError,
     r"x and sample_weight must have the same number of samples; got 12 and 11"),
    ("fit sample_weight strings", lambda: fit(sample_weight=np.array(["1"] * 12)), TypeError,
     r"sample_weight must hold real numbers"),
    ("fit bce targets > 1", lambda: binary().fit(X, Y_BINARY * 2, verbose=0), ValueError,
     r"BinaryCrossentropy needs targets y in \[0, 1\]; got values from 0.0 to 2.0"),
    ("fit bce targets < 0", lambda: binary().fit(X, Y_BINARY - 1, verbose=0), ValueError,
     r"BinaryCrossentropy needs targets y in \[0, 1\]; got values from -1.0"),
    ("evaluate bce targets", lambda: binary().evaluate(X, Y_BINARY + 3, verbose=0), ValueError,
     r"needs targets y in \[0, 1\]"),
    # ------------------------------------------------------------------ fit: arguments
    ("fit batch_size 0", lambda: fit(batch_size=0), ValueError,
     r"batch_size must be a positive integer or None; got batch_size=0"),
    ("fit batch_size float", lambda: fit(batch_size=2.5), ValueError, r"got batch_size=2.5"),
    ("fit batch_size str", lambda: fit(batch_size="32"), ValueError, r"got batch_size='32'"),
    ("fit batch_size bool", lambda: fit(batch_size=True), ValueError, r"got batch_size=True"),
    ("fit epochs 0", lambda: fit(epochs=0), ValueError,
     r"epochs must be a positive integer; got epochs=0"),
    ("fit epochs float", lambda: fit(epochs=1.5), ValueError, r"got epochs=1.5"),
    ("fit initial_epoch negative", lambda: fit(initial_epoch=-1), ValueError,
     r"initial_epoch must be an integer in \[0, epochs=1\); got initial_epoch=-1"),
    ("fit initial_epoch == epochs", lambda: fit(epochs=3, initial_epoch=3), ValueError,
     r"initial_epoch must be an integer in \[0, epochs=3\); got initial_epoch=3"),
    ("fit validation_split 1", lambda: fit(validation_split=1.0), ValueError,
     r"validation_split must be a float in \[0, 1\); got validation_split=1.0"),
    ("fit validation_split str", lambda: fit(validation_split="0.1"), ValueError,
     r"got validation_split='0.1'"),
    ("fit validation_split leaves 0 training", lambda: fit(x=X[:1], y=Y[:1],
                                                           validation_split=0.5), ValueError,
     r"validation_split=0.5 of 1 samples leaves 0 training samples"),
    ("fit validation_split leaves 0 validation", lambda: fit(validation_split=1e-20), ValueError,
     r"validation_split=1e-20 of 12 samples leaves 0 validation samples"),
    ("fit empty validation_data", lambda: fit(validation_data=(X[:0], Y[:0])), ValueError,
     r"validation_data: x must hold at least one sample; got 0 samples"),
    ("fit validation_data ndarray", lambda: fit(validation_data=X), ValueError,
     r"validation_data must be \(x_val, y_val\); got ndarray"),
    ("fit validation_data 4-tuple", lambda: fit(validation_data=(X, Y, Y, Y)), ValueError,
     r"validation_data must be \(x_val, y_val\); got tuple of 4 items"),
    ("fit validation sample_weight negative", lambda: fit(
        validation_data=(X, Y, -np.ones(12))), ValueError,
     r"validation_data: sample_weight must be finite and non-negative; got a weight -1"),
    ("fit shuffle str", lambda: fit(shuffle="yes"), ValueError,
     r"shuffle must be True or False; got shuffle='yes'"),
    ("fit verbose 3", lambda: fit(verbose=3), ValueError, r"verbose must be .*; got verbose=3"),
    ("fit steps_per_epoch 0", lambda: fit(steps_per_epoch=0), ValueError,
     r"steps_per_epoch must be a positive integer or None; got steps_per_epoch=0"),
    ("fit validation_steps str", lambda: fit(validation_steps="2"), ValueError,
     r"got validation_steps='2'"),
    ("fit class_weight list", lambda: fit(class_weight=[1, 2, 3]), ValueError,
     r"class_weight must be a dict mapping class index to weight; got class_weight=\[1, 2, 3\]"),
    ("fit class_weight key out of range", lambda: fit(class_weight={0: 1.0, 5: 2.0}), ValueError,
     r"class_weight key must be a class index in \[0, 2\]; got class_weight key=5"),
    ("fit class_weight key str", lambda: fit(class_weight={"0": 1.0}), ValueError,
     r"got class_weight key='0'"),
    ("fit class_weight negative", lambda: fit(class_weight={1: -2.0}), ValueError,
     r"class_weight\[1\] must be a non-negative number; got class_weight\[1\]=-2.0"),
    ("fit class_weight NaN", lambda: fit(class_weight={1: float("nan")}), ValueError,
     r"got class_weight\[1\]=nan"),
    ("fit class_weight multi-output", lambda: two_outputs().fit(
        X, [Y, Y % 2], class_weight={0: 1.0}, verbose=0), ValueError,
     r"class_weight is only supported for models with a single output; .* has 2 outputs"),
    ("fit generator plus y", lambda: fit_stream(generator([(X, Y)]), y=Y), ValueError,
     (r"fit: y must be None when x is a generator or PyDataset \(its batches give it\); "
     r"got y=an array of shape \(12,\)")),
    ("fit generator plus batch_size", lambda: fit_stream(generator([(X, Y)]), batch_size=4),
     ValueError, r"batch_size must be None when x is a generator or PyDataset .*got batch_size=4"),
    ("evaluate PyDataset plus sample_weight", lambda: evaluate(
        x=utils.PyDataset(), y=None, sample_weight=np.ones(3)), ValueError,
     r"evaluate: sample_weight must be None when x is a generator or PyDataset"),
    ("predict generator plus batch_size", lambda: predict(x=generator([X]), batch_size=8),
     ValueError, r"predict: batch_size must be None when x is a generator .*got batch_size=8"),
    ("fit generator plus validation_split", lambda: fit_stream(generator([(X, Y)]),
                                                        validation_split=0.2), ValueError,
     r"validation_split needs arrays.*got validation_split=0.2"),
    ("fit generator yields x only", lambda: fit_stream(generator([X])), ValueError,
     r"fit: x must yield \(x, y\) or \(x, y, sample_weight\) tuples; got ndarray"),
    ("fit generator yields 4-tuple", lambda: fit_stream(generator([(X, Y, Y, Y)])), ValueError,
     r"got a tuple of 4 items"),
    ("fit generator yields nothing", lambda: fit_stream(generator([])), ValueError,
     r"fit: x yielded no batches; expected at least one"),
    ("fit generator complex batch", lambda: fit_stream(generator([(X.astype(complex), Y)])),
     TypeError, r"fit: x must hold real numbers .*complex"),
    ("fit generator negative weights", lambda: fit_stream(generator([(X, Y, -np.ones(12))])),
     ValueError, r"fit: x: sample_weight must be finite and non-negative; got a weight -1"),
    ("fit not compiled", lambda: dd.Sequential([Input(shape=(4,)), Dense(2)]).fit(X, Y),
     RuntimeError, r"call compile\(\) before fit\(\)"),
    # ------------------------------------------------------------------ evaluate / predict
    ("evaluate x=None", lambda: evaluate(x=None), TypeError, r"evaluate: x must be an array"),
    ("evaluate zero samples", lambda: evaluate(x=X[:0], y=Y[:0]), ValueError,
     r"evaluate: x must hold at least one sample; got 0 samples"),
    ("evaluate negative sample_weight", lambda: evaluate(sample_weight=-np.ones(12)), ValueError,
     r"sample_weight must be finite and non-negative"),
    ("evaluate steps 0", lambda: evaluate(steps=0), ValueError,
     r"steps must be a positive integer or None; got steps=0"),
    ("evaluate batch_size -1", lambda: evaluate(batch_size=-1), ValueError,
     r"got batch_size=-1"),
    ("evaluate string x", lambda: evaluate(x=X.astype(str)), TypeError,
     r"evaluate must hold real numbers .*string"),
    ("predict x=None", lambda: predict(x=None), TypeError, r"predict: x must be an array.*x=None"),
    ("predict complex x", lambda: predict(x=X * 1j), TypeError, r"predict must hold real numbers"),
    ("predict ragged", lambda: predict(x=ragged()), ValueError, r"ragged list"),
    ("predict wrong shape", lambda: predict(x=X[:, :2]), ValueError,
     r"expected input .*\(batch, 4\); got \(12, 2\)"),
    ("predict batch_size str", lambda: predict(batch_size="8"), ValueError,
     r"got batch_size='8'"),
    ("predict steps -1", lambda: predict(steps=-1), ValueError, r"got steps=-1"),
    ("predict generator of tuples of 4", lambda: predict(x=generator([(X, Y, Y, Y)])), ValueError,
     r"predict: x must yield x, \(x,\) or \(x, y\) batches; got a tuple of 4 items"),
    ("__call__ x=None", lambda: classifier()(None), TypeError, r"__call__: x must be an array"),
    ("__call__ complex", lambda: classifier()(X.astype(np.complex64)), TypeError,
     r"__call__ must hold real numbers .*complex64"),
    ("__call__ object", lambda: classifier()(np.array([None] * 4)), TypeError, r"object"),
    ("__call__ wrong shape", lambda: classifier()(X[:, :1]), ValueError,
     r"expected input .*\(batch, 4\); got \(12, 1\)"),
    ("get_layer index out of range", lambda: classifier().get_layer(index=5), ValueError,
     r"index must be an integer in \[-1, 0\]; got index=5"),
    ("get_layer index str", lambda: classifier().get_layer(index="0"), ValueError,
     r"got index='0'"),
    ("get_layer unknown name", lambda: classifier().get_layer("nope"), ValueError,
     r"no layer named 'nope'"),
    # ------------------------------------------------------------------ compile strings
    ("compile unknown loss", lambda: classifier().compile(loss="cross_entropy"), ValueError,
     r"Unknown loss 'cross_entropy'"),
    ("compile unknown optimizer", lambda: classifier().compile(optimizer="adamm", loss="mse"),
     ValueError, r"Unknown optimizer 'adamm'"),
    ("compile unknown metric", lambda: classifier().compile(loss="mse", metrics=["acuracy"]),
     ValueError, r"Unknown metric 'acuracy'"),
    ("compile no loss", lambda: classifier().compile(optimizer="sgd"), ValueError,
     r"loss is required"),
    ("compile unknown activation", lambda: Dense(3, activation="rleu"), ValueError,
     r"Unknown activation 'rleu'"),
    ("compile loss per unknown output", lambda: two_outputs().compile(loss={"c": "mse"}),
     ValueError, r"loss names unknown outputs \['c'\]"),
    # ------------------------------------------------------------------ layers
    ("Dense units 0", lambda: Dense(0), ValueError,
     r"units must be a positive integer; got units=0"),
    ("Dense units str", lambda: Dense("10"), ValueError, r"got units='10'"),
    ("Dense units float", lambda: Dense(10.0), ValueError, r"got units=10.0"),
    ("Dense use_bias str", lambda: Dense(3, use_bias="no"), ValueError,
     r"use_bias must be True or False; got use_bias='no'"),
    ("Dense unknown kwarg", lambda: Dense(3, unit=4), TypeError, (r"unknown keyword argument\(s\) "
                                                                 r"unit")),
    ("Dense name empty", lambda: Dense(3, name=""), ValueError, (r"name must be a non-empty "
                                                                r"string; got ''")),
    ("Dropout rate str", lambda: layers.Dropout("0.5"), ValueError,
     r"rate must be a float in \[0, 1\); got rate='0.5'"),
    ("Dropout rate 1", lambda: layers.Dropout(1.0), ValueError, r"got rate=1.0"),
    ("Dropout rate negative", lambda: layers.Dropout(-0.1), ValueError, r"got rate=-0.1"),
    ("Dropout rate NaN", lambda: layers.Dropout(float("nan")), ValueError, r"got rate=nan"),
    ("Dropout seed str", lambda: layers.Dropout(0.5, seed="1"), ValueError,
     r"seed must be a non-negative integer or None; got seed='1'"),
    ("Conv2D filters 0", lambda: layers.Conv2D(0, 3), ValueError, r"got filters=0"),
    ("Conv2D kernel_size str", lambda: layers.Conv2D(4, "3"), ValueError, r"got kernel_size='3'"),
    ("Conv2D kernel_size 3-tuple", lambda: layers.Conv2D(4, (3, 3, 3)), ValueError,
     (r"kernel_size must be a positive int or a tuple of 2 positive ints; got kernel_size=\(3, 3, "
      r"3\)")),
    ("Conv2D strides 0", lambda: layers.Conv2D(4, 3, strides=0), ValueError, r"got strides=0"),
    ("Conv2D padding", lambda: layers.Conv2D(4, 3, padding="full"), ValueError,
     r"padding must be one of .*; got padding='full'"),
    ("Conv2D data_format", lambda: layers.Conv2D(4, 3, data_format="NHWC"), ValueError,
     r"got data_format='NHWC'"),
    ("MaxPooling2D pool_size 0", lambda: layers.MaxPooling2D(0), ValueError, r"got pool_size=0"),
    ("MaxPooling2D pool_size float", lambda: layers.MaxPooling2D(2.0), ValueError,
     r"got pool_size=2.0"),
    ("BatchNormalization momentum", lambda: layers.BatchNormalization(momentum=1.5), ValueError,
     r"momentum must be a float in \[0, 1\]; got momentum=1.5"),
    ("BatchNormalization epsilon", lambda: layers.BatchNormalization(epsilon="1e-3"), ValueError,
     r"got epsilon='1e-3'"),
    ("BatchNormalization axis", lambda: layers.BatchNormalization(axis=1.0), ValueError,
     r"axis must be an integer; got axis=1.0"),
    ("BatchNormalization center", lambda: layers.BatchNormalization(center="yes"), ValueError,
     r"center must be True or False; got center='yes'"),
    ("ReLU max_value negative", lambda: layers.ReLU(max_value=-1), ValueError,
     r"max_value must be None or >= 0; got max_value=-1"),
    ("ReLU negative_slope str", lambda: layers.ReLU(negative_slope="0.1"), ValueError,
     r"got negative_slope='0.1'"),
    ("LeakyReLU negative_slope", lambda: layers.LeakyReLU(-0.1), ValueError,
     r"got negative_slope=-0.1"),
    ("ELU alpha str", lambda: layers.ELU("1"), ValueError,
     r"alpha must be a number; got alpha='1'"),
    ("Softmax axis float", lambda: layers.Softmax(axis=1.5), ValueError, r"got axis=1.5"),
    ("Reshape target_shape int", lambda: layers.Reshape(5), ValueError, r"got target_shape=5"),
    ("Reshape two -1", lambda: layers.Reshape((-1, -1)), ValueError,
     r"target_shape must be positive ints with at most one -1; got target_shape=\(-1, -1\)"),
    ("Input shape negative", lambda: Input(shape=(-3,)), ValueError, r"-3"),
    # ------------------------------------------------------------------ optimizers
    ("SGD learning_rate 0", lambda: optimizers.SGD(learning_rate=0), ValueError,
     r"learning_rate must be a positive number; got learning_rate=0"),
    ("SGD learning_rate str", lambda: optimizers.SGD(learning_rate="0.1"), ValueError,
     r"got learning_rate='0.1'"),
    ("SGD learning_rate inf", lambda: optimizers.SGD(learning_rate=float("inf")), ValueError,
     r"got learning_rate=inf"),
    ("SGD momentum 1", lambda: optimizers.SGD(momentum=1.0), ValueError,
     r"momentum must be a float in \[0, 1\); got momentum=1.0"),
    ("SGD nesterov str", lambda: optimizers.SGD(nesterov="True"), ValueError,
     r"nesterov must be True or False; got nesterov='True'"),
    ("Adam beta_1 str", lambda: optimizers.Adam(beta_1="0.9"), ValueError, r"got beta_1='0.9'"),
    ("Adam beta_2 1", lambda: optimizers.Adam(beta_2=1), ValueError, r"got beta_2=1"),
    ("Adam epsilon negative", lambda: optimizers.Adam(epsilon=-1e-7), ValueError,
     r"epsilon must be a positive number; got epsilon=-1e-07"),
    ("Adam amsgrad int", lambda: optimizers.Adam(amsgrad=1), ValueError,
     r"amsgrad must be True or False; got amsgrad=1"),
    ("RMSprop rho", lambda: optimizers.RMSprop(rho=1.2), ValueError, r"got rho=1.2"),
    ("RMSprop centered", lambda: optimizers.RMSprop(centered="no"), ValueError,
     r"got centered='no'"),
    ("Adagrad initial_accumulator_value", lambda: optimizers.Adagrad(
        initial_accumulator_value=-1), ValueError, r"got initial_accumulator_value=-1"),
    ("optimizer clipnorm negative", lambda: optimizers.Adam(clipnorm=-1.0), ValueError,
     r"clipnorm must be a positive number; got clipnorm=-1.0"),
    ("optimizer weight_decay str", lambda: optimizers.SGD(weight_decay="0.1"), ValueError,
     r"got weight_decay='0.1'"),
    ("optimizer unknown kwarg", lambda: optimizers.Adam(lr=0.1), TypeError,
     r"unknown keyword argument\(s\) lr"),
    # ------------------------------------------------------------------ losses / metrics
    ("loss reduction", lambda: losses.MeanSquaredError(reduction="mean"), ValueError,
     r"reduction must be one of .*; got reduction='mean'"),
    ("loss label_smoothing", lambda: losses.CategoricalCrossentropy(label_smoothing=2),
     ValueError, r"label_smoothing must be a float in \[0, 1\]; got label_smoothing=2"),
    ("loss label_smoothing str", lambda: losses.BinaryCrossentropy(label_smoothing="0.1"),
     ValueError, r"got label_smoothing='0.1'"),
    ("loss from_logits str", lambda: losses.BinaryCrossentropy(from_logits="False"), ValueError,
     r"from_logits must be True or False; got from_logits='False'"),
    ("categorical_accuracy integer labels", lambda: metrics.categorical_accuracy(
        np.array([0, 1]), np.eye(2)), ValueError,
     r"y_true must be one-hot, of y_pred's shape \(2, 2\); got y_true of shape \(2,\)"),
    ("fit categorical_accuracy integer labels", lambda: _compiled_with_metric(
        "categorical_accuracy").fit(X, Y, verbose=0), ValueError,
     r"categorical_accuracy: y_true must be one-hot.*sparse_categorical_accuracy"),
    ("Precision class_id out of range", lambda: _precision_update(class_id=4), ValueError,
     r"class_id must index a class of the output .*; got class_id=4"),
    ("Precision class_id negative", lambda: metrics.Precision(class_id=-1), ValueError,
     r"class_id must be a non-negative integer or None; got class_id=-1"),
    ("Recall thresholds", lambda: metrics.Recall(thresholds=1.5), ValueError,
     r"thresholds must be a float in \[0, 1\] or None; got thresholds=1.5"),
    ("TopK k 0", lambda: metrics.TopKCategoricalAccuracy(k=0), ValueError, r"got k=0"),
    ("metric unknown kwarg", lambda: metrics.BinaryAccuracy(treshold=0.4), TypeError,
     r"unknown keyword argument\(s\) treshold"),
    # ------------------------------------------------------------------ schedules / init / reg
    ("ExponentialDecay decay_steps 0", lambda: schedules.ExponentialDecay(0.1, 0, 0.5),
     ValueError, r"decay_steps must be a positive integer; got decay_steps=0"),
    ("ExponentialDecay rate str", lambda: schedules.ExponentialDecay(0.1, 10, "0.5"), ValueError,
     r"got decay_rate='0.5'"),
    ("ExponentialDecay staircase str", lambda: schedules.ExponentialDecay(
        0.1, 10, 0.5, staircase="yes"), ValueError, r"got staircase='yes'"),
    ("CosineDecay alpha", lambda: schedules.CosineDecay(0.1, 10, alpha=2), ValueError,
     r"alpha must be a float in \[0, 1\]; got alpha=2"),
    ("CosineDecay initial_learning_rate", lambda: schedules.CosineDecay(-0.1, 10), ValueError,
     r"got initial_learning_rate=-0.1"),
    ("RandomNormal stddev negative", lambda: initializers.RandomNormal(stddev=-1), ValueError,
     r"stddev must be a non-negative number; got stddev=-1"),
    ("RandomUniform empty", lambda: initializers.RandomUniform(1, 1), ValueError,
     r"maxval must be greater than minval=1.0; got maxval=1"),
    ("initializer seed str", lambda: initializers.GlorotUniform(seed="0"), ValueError,
     r"seed must be an integer or None; got seed='0'"),
    ("Constant value str", lambda: initializers.Constant("1"), ValueError, r"got value='1'"),
    ("VarianceScaling mode", lambda: initializers.VarianceScaling(mode="fan"), ValueError,
     r"got mode='fan'"),
    ("L2 negative", lambda: regularizers.L2(-0.1), ValueError,
     r"l2 must be a non-negative number; got l2=-0.1"),
    ("L1 str", lambda: regularizers.L1("0.1"), ValueError, r"got l1='0.1'"),
    # ------------------------------------------------------------------ utils and helpers
    ("set_random_seed negative", lambda: utils.set_random_seed(-1), ValueError,
     r"seed must be a non-negative integer; got -1"),
    ("to_categorical out of range", lambda: utils.to_categorical([0, 3], 3), ValueError,
     r"labels must be in \[0, 3\); got label 3"),
    ("to_categorical fractional", lambda: utils.to_categorical([0.5]), ValueError,
     r"labels must be integers"),
    ("to_categorical strings", lambda: utils.to_categorical(["a", "b"]), TypeError,
     r"to_categorical: x must hold integer labels; got an array of dtype <U1"),
    ("to_categorical num_classes str", lambda: utils.to_categorical([0, 1], "2"), ValueError,
     r"num_classes must be a positive integer or None; got num_classes='2'"),
    ("normalize strings", lambda: utils.normalize(["abc"]), TypeError,
     r"normalize: x must hold real numbers; got an array of dtype <U3"),
    ("PyDataset workers 0", lambda: utils.PyDataset(workers=0), ValueError, r"got workers=0"),
    ("PyDataset use_multiprocessing str", lambda: utils.PyDataset(use_multiprocessing="yes"),
     ValueError, r"use_multiprocessing must be True or False; got use_multiprocessing='yes'"),
    ("PyDataset max_queue_size", lambda: utils.PyDataset(max_queue_size=-1), ValueError,
     r"got max_queue_size=-1"),
    ("check_number NaN", lambda: check_number("f", "lr", float("nan")), ValueError, r"got lr=nan"),
    ("check_choice type", lambda: check_choice("f", "mode", 1, ("1", "2")), ValueError,
     r"mode must be one of \['1', '2'\]; got mode=1"),
    # ------------------------------------------------------------------ data loaders
    ("load_image_folder missing", lambda: datasets.load_image_folder("/nonexistent/folder"),
     FileNotFoundError, r"no such folder: /nonexistent/folder"),
    ("load_image_folder size", lambda: datasets.load_image_folder(".", size=(0, 64)), ValueError,
     r"size must be a pair of positive ints \(height, width\); got size=\(0, 64\)"),
    ("prefix_label empty", lambda: datasets.prefix_label(""), ValueError,
     r"prefix must be a non-empty string; got prefix=''"),
    ("mnist path missing", lambda: datasets.mnist.load_data("/nonexistent/mnist.npz"),
     FileNotFoundError, r"No such .npz file: /nonexistent/mnist.npz"),
    ("flatten_images 1-d", lambda: datasets.flatten_images(np.zeros(3)), ValueError,
     r"x must be an array of ndim >= 2.*got shape \(3,\)"),
    ("image_dataset missing folder", lambda: utils.image_dataset_from_directory("/nonexistent"),
     FileNotFoundError, r"directory must be an existing folder; got directory='/nonexistent'"),
]


def _compiled_with_metric(metric):
    model = classifier()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[metric])
    return model


def _precision_update(class_id):
    metric = metrics.Precision(class_id=class_id)
    metric.update_state(np.eye(3), np.eye(3))


@pytest.mark.parametrize("thunk, error, pattern", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_refused(thunk, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        thunk()
    assert type(info.value) is error  # the exact type, not a subclass


def test_case_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------------- NumPy scalars accepted


def test_numpy_scalars_are_accepted_wherever_numbers_are():
    model = dd.Sequential([Input(shape=(np.int64(4),)), Dense(np.int64(3), activation="softmax"),
                           layers.Dropout(np.float32(0.25), seed=np.int32(1))])
    model.compile(optimizer=optimizers.Adam(np.float32(0.01), beta_1=np.float64(0.9)),
                  loss="sparse_categorical_crossentropy")
    history = model.fit(X, Y, batch_size=np.int64(4), epochs=np.int64(2),
                        validation_split=np.float64(0.25), initial_epoch=np.int32(1), verbose=0)
    assert history.epoch == [1]
    assert layers.Conv2D(np.int64(2), np.int64(3), strides=(np.int64(1), 1)).kernel_size == (3, 3)
    assert model.evaluate(X, Y, batch_size=np.int64(5), verbose=0) > 0
    assert model.predict(X, batch_size=np.int16(5), verbose=0).shape == (12, 3)
    assert schedules.CosineDecay(np.float32(0.1), np.int64(10))(0) == pytest.approx(0.1)
    utils.set_random_seed(np.int64(3))
    assert utils.to_categorical([1], np.int64(2)).tolist() == [[0.0, 1.0]]
    assert model.get_layer(index=np.int64(0)) is model.layers[0]
    assert losses.CategoricalCrossentropy(label_smoothing=np.float32(0.1)).label_smoothing == \
        pytest.approx(0.1)


# ---------------------------------------------------------------------- faults not silent


def test_loss_weights_zero_is_kept_not_replaced_by_one():
    model = classifier()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", loss_weights=0.0)
    assert model.evaluate(X, Y, verbose=0) == 0.0  # was silently weighted 1.0
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", loss_weights=[2.0])
    assert model.compiled.loss_weights == [2.0]


def test_class_weight_weights_the_loss_by_class():
    model = classifier()
    model.fit(X, Y, epochs=1, verbose=0)  # build
    model.optimizer = optimizers.SGD(1e-12)
    weighted = model.fit(X, Y, class_weight={0: 0.0, 1: 0.0, 2: 3.0}, shuffle=False,
                         batch_size=12, verbose=0).history["loss"][0]
    by_hand = model.evaluate(X, Y, sample_weight=np.where(Y == 2, 3.0, 0.0), batch_size=12,
                             verbose=0)[0]
    assert weighted == pytest.approx(by_hand, rel=1e-5)


def test_nan_weights_after_the_last_update_of_an_epoch_raise():
    class Poison(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.layers[-1].kernel.value[0, 0] = np.nan  # after the epoch's last update

    with pytest.raises(FloatingPointError, match=r"weights became NaN or infinite at the end of "
                                                 r"epoch 1 \(kernel\)"):
        classifier().fit(X, Y, batch_size=12, verbose=0, callbacks=[Poison()])


def test_nan_validation_loss_raises():
    x_val = X.copy()
    x_val[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match=r"the validation loss became nan at epoch 1"):
        fit(validation_data=(x_val, Y))


def test_nan_training_loss_raises_before_the_update():
    x = X.copy()
    x[3, 1] = np.inf
    model = classifier()
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match=r"the loss became nan at epoch 1, batch 1"):
        model.fit(x, Y, batch_size=12, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_stops_fit_normally_as_in_keras(capsys):
    x = X.copy()
    x[7, 0] = np.nan  # the second batch of 6
    model = classifier()
    model.fit(X, Y, verbose=0)  # build
    before = model.get_weights()
    seen = []
    record = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        (batch, logs["loss"])))
    history = model.fit(x, Y, batch_size=6, epochs=3, shuffle=False, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN(), record])
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"
    assert [batch for batch, _ in seen] == [0, 1] and np.isnan(seen[1][1])
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])
    # the first batch's update was applied, the NaN batch's was not: weights stay finite
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


# ---------------------------------------------------------------------- data files


def _idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def test_fashion_mnist_local_file_hash_checked_naming_file_and_origin(tmp_path, monkeypatch):
    for name in fashion_mnist.FILES:
        array = np.zeros((2, 28, 28) if "images" in name else (2,), dtype=np.uint8)
        (tmp_path / name).write_bytes(gzip.compress(_idx_bytes(array)))
    monkeypatch.setenv("DENDRITE_DATA", str(tmp_path))
    pattern = (r"SHA256 mismatch for .*train-images-idx3-ubyte.gz \(found via \$DENDRITE_DATA\): "
               r"expected c59f468a.*, got [0-9a-f]{64}\. Delete or replace the file")
    with pytest.raises(ValueError, match=pattern):
        fashion_mnist.load_data()
    with pytest.raises(ValueError, match=r"\(found via the path argument\)"):
        fashion_mnist.load_data(path=tmp_path)


def test_dendrite_data_without_the_files_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("DENDRITE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\$DENDRITE_DATA=.* lacks the Fashion-MNIST "
                                                 r"files \['train-images-idx3-ubyte.gz'"):
        fashion_mnist.load_data(cache_dir=tmp_path / "cache", base_url="http://0.0.0.0:9/")
    assert not (tmp_path / "cache").exists()  # no fallback to a download


@pytest.mark.parametrize("shape, size, pattern", [
    ((1000, 1000), 10, r"is truncated: expected 1000000 bytes .*got 10"),
    ((4,), 9, r"expected 4 bytes .*; got 9 \(5 bytes too many\)"),
])
def test_plain_idx_size_checked_before_reading(tmp_path, shape, size, pattern):
    path = tmp_path / "data-idx"
    header = bytes([0, 0, 0x08, len(shape)]) + np.array(shape, ">u4").tobytes()
    path.write_bytes(header + bytes(size))
    with pytest.raises(ValueError, match=pattern):
        datasets.read_idx(path)


MEMORY_SCRIPT = r"""
import gzip, resource, sys
import numpy as np
from dendrite.datasets import mnist, read_idx

def vm_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

limit = vm_bytes() + 300 * 2**20  # 300 MiB above what Python and NumPy already hold
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    np.empty(2**30, dtype=np.uint8)
    print("limit-not-enforced")
except MemoryError:
    pass
case, path = sys.argv[1], sys.argv[2]
try:
    mnist.load_data(path) if case == "npz" else read_idx(path)
    print("read")
except ValueError as error:
    print("ValueError:", error)
except MemoryError:
    print("MemoryError")
"""


def _run_limited(case, path):
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, case, str(path)], check=False,
                            capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr
    assert "limit-not-enforced" not in result.stdout
    return result.stdout.strip()


@pytest.mark.slow
def test_gzip_header_declaring_1_gib_is_refused_under_a_memory_limit(tmp_path):
    # 0.5 MB of gzip whose IDX header declares 1 GiB of uint8 values
    header = bytes([0, 0, 0x08, 1]) + np.array([2**30], ">u4").tobytes()
    payload = RNG.integers(0, 256, 500_000, dtype=np.uint8).tobytes()
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(header + payload, compresslevel=1))
    assert path.stat().st_size < 600_000
    output = _run_limited("gzip-header", path)
    assert re.match(r"ValueError: .*bomb-idx1-ubyte.gz: its header declares 1073741824 bytes "
                    r".*more than a gzip file of \d+ bytes can hold", output), output


@pytest.mark.slow
def test_gzip_stream_past_the_declared_data_is_not_read_to_the_end(tmp_path):
    # 4 declared bytes followed by 1 GiB of zeros that compress to about 1 MB
    header = bytes([0, 0, 0x08, 1]) + np.array([4], ">u4").tobytes()
    path = tmp_path / "long-idx1-ubyte.gz"
    zeros = gzip.compress(bytes(2**24), compresslevel=9)  # gzip members concatenate
    path.write_bytes(gzip.compress(header + bytes(4)) + zeros * 64)
    assert path.stat().st_size < 2_000_000
    output = _run_limited("gzip-tail", path)
    assert re.match(r"ValueError: .*long-idx1-ubyte.gz: expected 4 bytes .*; got more than "
                    r"65540 \(more than 65536 bytes too many\)", output), output


@pytest.mark.slow
def test_plain_idx_header_is_checked_before_allocating_under_a_memory_limit(tmp_path):
    header = bytes([0, 0, 0x08, 2]) + np.array([2**15, 2**15], ">u4").tobytes()
    path = tmp_path / "huge-idx2-ubyte"
    path.write_bytes(header + bytes(500_000))
    output = _run_limited("plain-header", path)
    assert re.match(r"ValueError: .*huge-idx2-ubyte is truncated: expected 1073741824 bytes",
                    output), output


@pytest.mark.slow
def test_npz_array_header_declaring_1_gib_is_refused_under_a_memory_limit(tmp_path):
    import io
    import zipfile

    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (2**30,)})
    member.write(bytes(500_000))
    path = tmp_path / "mnist.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x_train.npy", member.getvalue())
    output = _run_limited("npz", path)
    assert re.match(r"ValueError: .*mnist.npz is not a readable .npz file: array x_train.npy "
                    r"declares shape \(1073741824,\) of uint8 \(1073741824 bytes\) but its "
                    r"member holds 500128 bytes", output), output


# ---------------------------------------------------------------------- the CLI


def _cli(argv, capsys):
    status = cli.main(argv)
    err = capsys.readouterr().err
    return status, err


@pytest.fixture
def small_mnist(monkeypatch):
    (x, y), (x_test, y_test) = datasets.mnist.load_data()
    monkeypatch.setattr(datasets.mnist, "load_data",
                        lambda: ((x[:300], y[:300]), (x_test[:100], y_test[:100])))


def test_cli_unwritable_out_is_refused_before_the_data_loads(tmp_path, capsys, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("the data set must not load before --out is checked")

    monkeypatch.setattr(datasets.mnist, "load_data", no_loading)
    (tmp_path / "file").write_text("")
    status, err = _cli(["train", "--out", str(tmp_path / "file" / "run")], capsys)
    assert status == 2
    assert err.count("\n") == 1
    assert re.fullmatch(r"dendrite train: error: --out .*file/run: cannot create it, .*file is "
                        r"a file, not a folder\n", err)
    status, err = _cli(["train", "--out", str(tmp_path / "file")], capsys)
    assert (status, err.count("\n")) == (2, 1)
    assert "exists and is not a folder" in err


def test_cli_limit_too_small_for_the_schedule(tmp_path, capsys, small_mnist):
    status, err = _cli(["train", "--limit", "1", "--epochs", "1", "--no-plot", "--out",
                        str(tmp_path / "run")], capsys)
    assert status == 2
    assert err == ("dendrite train: error: --limit 1 with --validation-split 0.1 leaves 0 "
                   "training samples; use a larger --limit or a different split\n")


def test_cli_damaged_data_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    def damaged():
        raise ValueError("SHA256 mismatch for /x/mnist.npz: expected 06af, got 1234.")

    monkeypatch.setattr(datasets.mnist, "load_data", damaged)
    status, err = _cli(["train", "--out", str(tmp_path / "run")], capsys)
    assert status == 2
    assert err == ("dendrite train: error: could not load mnist: SHA256 mismatch for "
                   "/x/mnist.npz: expected 06af, got 1234.\n")


def test_cli_exits_nonzero_when_training_diverges(tmp_path, capsys, small_mnist):
    status, err = _cli(["train", "--learning-rate", "1e30", "--lr-schedule", "constant",
                        "--optimizer", "sgd", "--epochs", "1", "--verbose", "0", "--no-plot",
                        "--out", str(tmp_path / "run")], capsys)
    assert status == 1
    assert err.startswith("dendrite train: training diverged: Sequential(name='mlp'): the ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("option, value", [("--epochs", "0"), ("--batch-size", "-1"),
                                           ("--validation-split", "1"), ("--limit", "x")])
def test_cli_bad_option_values_exit_2(option, value, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", option, value])
    assert info.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_cli_json_is_strict(tmp_path):
    history = callbacks.History()
    history.epoch = [0, 1]
    history.history = {"loss": [float("nan"), 0.5], "val_loss": [float("inf"), 0.4]}
    cli.write_history(history, tmp_path)
    text = (tmp_path / "history.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["loss"] == [None, 0.5]
    assert cli.strict_json({"a": [float("-inf"), {"b": float("nan")}]}) == {"a": [None,
                                                                                  {"b": None}]}


def test_there_are_at_least_120_cases():
    assert len(CASES) >= 120


# ---------------------------------------------------------------------- every constructor argument

REQUIRED_ARGUMENTS = {
    "Dense": {"units": 3}, "Conv1D": {"filters": 2, "kernel_size": 3},
    "Conv2D": {"filters": 2, "kernel_size": 3}, "Dropout": {"rate": 0.5},
    "GaussianDropout": {"rate": 0.5}, "SpatialDropout2D": {"rate": 0.5},
    "Reshape": {"target_shape": (2, 2)}, "Activation": {"activation": "relu"},
    "Embedding": {"input_dim": 10, "output_dim": 4}, "SimpleRNN": {"units": 3},
    "LSTM": {"units": 3}, "GRU": {"units": 3}, "Dot": {"axes": 1},
    "Bidirectional": {"layer": lambda: layers.LSTM(3)},
    "TimeDistributed": {"layer": lambda: layers.Dense(3)},
    "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    "CosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 10},
    "ModelCheckpoint": {"filepath": "model.keras"}, "BackupAndRestore": {"backup_dir": "backup"},
    "CSVLogger": {"filename": "log.csv"},
    "LearningRateScheduler": {"schedule": lambda: (lambda epoch, lr: lr)},
    "LossFunctionWrapper": {"fn": lambda: (lambda y_true, y_pred: y_pred)},
}
ABSTRACT = {"Layer", "InputLayer", "Optimizer", "Loss", "Metric", "MeanMetricWrapper", "Callback",
            "CallbackList", "History", "FlatParameters", "Initializer", "Regularizer",
            "LearningRateSchedule", "LambdaCallback"}
FREE_TEXT = {"name", "dtype", "filepath", "filename", "backup_dir", "stream", "input_shape",
             "input_dim", "batch_input_shape", "trainable"}


def _constructor_arguments():
    """(class, argument, bad value) for every argument with a number, bool, str or None default
    of every public layer, optimizer, loss, metric, schedule, callback, initializer, regularizer."""
    import inspect

    found = []
    for module in (layers, optimizers, losses, metrics, schedules, callbacks, initializers,
                   regularizers):
        for name in sorted(dir(module)):
            cls = getattr(module, name)
            if not (name[0].isupper() and inspect.isclass(cls)) or name in ABSTRACT:
                continue
            required = REQUIRED_ARGUMENTS.get(name, {})
            for argument, parameter in inspect.signature(cls.__init__).parameters.items():
                if argument in {"self", *FREE_TEXT} or parameter.kind in (
                        parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                    continue
                default = required.get(argument, parameter.default)
                if isinstance(default, bool):
                    bad = "True"
                elif isinstance(default, (int, float)) or default is None:
                    bad = "1"
                elif isinstance(default, str):
                    bad = "no-such-option"
                else:
                    continue
                found.append(pytest.param(cls, argument, bad, id=f"{name}.{argument}"))
    return found


@pytest.mark.parametrize("cls, argument, bad", _constructor_arguments())
def test_no_constructor_argument_slips_through_unchecked(cls, argument, bad):
    """A string where a number, a flag or one of a few names belongs is refused with ValueError
    naming the argument and the value (or, for a name looked up in a table, the valid names)."""
    required = {key: value() if callable(value) else value
                for key, value in REQUIRED_ARGUMENTS.get(cls.__name__, {}).items()}
    with pytest.raises(ValueError) as info:
        cls(**{**required, argument: bad})
    message = str(info.value)
    assert type(info.value) is ValueError
    received = (repr(bad), repr(type(bad).__name__))  # a layer argument shows the type received
    assert (argument in message and any(r in message for r in received)) or message.startswith(
        ("Unknown ", f"{cls.__name__}: cannot tell whether")), message
