"""dendrite.testing.run_layer_test: it passes a correct layer and catches each kind of bug."""

import numpy as np
import pytest

from dendrite.layers import Layer
from dendrite.testing import GradientCheckError, run_layer_test


class Scale(Layer):
    """y = x * w, one weight per feature: a small correct layer to break in the tests below."""

    cache_attributes = ("_x",)

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), "ones")

    def forward(self, x, training=False):
        self._x = x
        return x * (self.w.value * self.factor)

    def backward(self, dy):
        self.w.grad += (dy * self._x).reshape(-1, self._x.shape[-1]).sum(axis=0) * self.factor
        return dy * (self.w.value * self.factor)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_a_correct_layer_passes_and_reports():
    torch = pytest.importorskip("torch")
    weights = [np.array([0.5, -2.0, 3.0])]
    report = run_layer_test(Scale, {"factor": 2.0}, (4, 3), weights=weights,
                            reference=lambda x, w: x * w * 2.0,
                            torch_reference=lambda x, w: x * w * 2.0,
                            expected_output_shape=(4, 3))
    assert set(report["gradients"]) == {"x", "w"}
    assert max(report["gradients"].values()) < 1e-8
    assert set(report["torch"]) == {"output 0", "dx", "dw"}
    assert report["output_shape"] == (None, 3)
    del torch


def test_multi_output_shapes_and_callable_weights():
    report = run_layer_test(Scale, {}, (2, 5, 3), weights=lambda layer: [np.arange(3.0) + 1])
    assert report["output_shape"] == (None, 5, 3)


class WrongWeightGradient(Scale):
    def backward(self, dy):
        self.w.grad += (dy * self._x).reshape(-1, self._x.shape[-1]).sum(axis=0)  # factor missing
        return dy * (self.w.value * self.factor)


class WrongInputGradient(Scale):
    def backward(self, dy):
        super().backward(dy)
        return dy


class LeaksFloat64(Scale):
    def forward(self, x, training=False):
        return super().forward(x).astype("float64")


class ForgetsConfig(Scale):
    def get_config(self):
        config = super().get_config()
        del config["factor"]
        return config


class WrongOutputShape(Scale):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


class ModifiesInput(Scale):
    def forward(self, x, training=False):
        y = super().forward(x)
        x *= 1.0
        x += 1.0
        return y


class NotJsonSafe(Scale):
    def get_config(self):
        return {**super().get_config(), "factor": np.float64(self.factor) * np.ones(1)}


@pytest.mark.parametrize("layer_class, error, match", [
    (WrongWeightGradient, GradientCheckError, "gradient of 'w' is wrong"),
    (WrongInputGradient, GradientCheckError, "gradient of 'x' is wrong"),
    (LeaksFloat64, AssertionError, "float32 in gave a float64 output"),
    (ForgetsConfig, AssertionError, r"computes another function|from_config"),
    (WrongOutputShape, AssertionError, r"compute_output_shape\(\(None, 3\)\) = \(None, 1\)"),
    (ModifiesInput, AssertionError, "modified input 'x' in place"),
    (NotJsonSafe, AssertionError, "not JSON-safe"),
], ids=["weight_gradient", "input_gradient", "float32", "config", "output_shape", "in_place",
        "json"])
def test_each_kind_of_bug_is_caught(layer_class, error, match):
    with pytest.raises(error, match=match):
        run_layer_test(layer_class, {"factor": 2.0}, (4, 3),
                       weights=[np.array([0.5, -2.0, 3.0])])


def test_wrong_reference_and_wrong_torch_reference_are_caught():
    with pytest.raises(AssertionError, match="output 0 against the reference"):
        run_layer_test(Scale, {"factor": 2.0}, (4, 3), reference=lambda x, w: x * w)
    with pytest.raises(AssertionError, match="output shape"):
        run_layer_test(Scale, {}, (4, 3), expected_output_shape=(4, 2))
    pytest.importorskip("torch")
    with pytest.raises(AssertionError, match="against torch"):
        run_layer_test(Scale, {"factor": 2.0}, (4, 3), torch_reference=lambda x, w: x * w)


def test_kinks_keep_inputs_away():
    seen = {}

    def reference(x, w):
        seen["x"] = x
        return x * w

    run_layer_test(Scale, {}, (50, 4), kinks=(0.0, 1.0), reference=reference)
    assert np.abs(seen["x"]).min() >= 0.2 and np.abs(seen["x"] - 1.0).min() >= 0.2


def test_dtype_is_the_harness_choice():
    with pytest.raises(ValueError, match="leave dtype out of init_kwargs"):
        run_layer_test(Scale, {"dtype": "float64"}, (2, 3))
    with pytest.raises(ValueError, match="give input_shape or input_data"):
        run_layer_test(Scale, {})
