"""dendrite.plotting and dendrite.utils.plot_model, rendered headless (Agg): each figure is drawn,
is not blank, and shows the numbers of the model it was given."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers

pytest.importorskip("matplotlib")
from dendrite import plotting


def render(figure):
    """The figure rendered by Agg as an (h, w, 3) uint8 array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3]


def assert_not_blank(figure):
    pixels = render(figure)
    assert pixels.std() > 20  # a blank or single-colour canvas has std 0
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


@pytest.fixture(scope="module")
def convnet():
    rng = np.random.default_rng(0)
    dd.utils.set_random_seed(0)
    model = dd.Sequential([
        dd.Input(shape=(12, 12, 1)),
        layers.Conv2D(4, 3, activation="relu", name="conv"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(3, activation="softmax", name="out"),
    ])
    x = rng.random((30, 12, 12, 1)).astype("float32")
    return model, x


def test_history_has_integer_epoch_ticks_even_for_one_epoch():
    figure = plotting.plot_history({"loss": [0.7], "accuracy": [0.8], "val_loss": [0.6],
                                    "val_accuracy": [0.85]})
    for ax in figure.axes:
        assert list(ax.get_xticks()) == [1]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1"]
        np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.6 if ax.get_ylabel() == "loss"
                                                             else 0.85])
    assert_not_blank(figure)
    many = plotting.plot_history({"loss": list(np.linspace(1, 0.1, 30))})
    ticks = many.axes[0].get_xticks()
    assert np.all(ticks == np.round(ticks))


def test_confusion_matrix_title_colour_bar_and_visible_errors(tmp_path):
    cm = np.array([[980, 20, 0], [1, 989, 10], [0, 5, 995]])
    figure = plotting.plot_confusion_matrix(cm, ["a", "b", "c"], tmp_path / "cm.png",
                                            title="Toy test set")
    ax, correct_bar, error_bar = figure.axes
    assert ax.get_title() == "Toy test set: accuracy 98.80 % (2,964 of 3,000)"
    assert correct_bar.get_ylabel() == "correct: share of the true class"
    assert error_bar.get_ylabel() == "errors: share of the true class"
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in cm.ravel())
    shares = cm / cm.sum(axis=1, keepdims=True)
    correct, errors = ax.images
    np.testing.assert_allclose(correct.get_array().filled(0), np.diag(np.diag(shares)))
    np.testing.assert_allclose(errors.get_array().filled(0), shares - np.diag(np.diag(shares)))
    # the largest error (20 of 1,000) gets the darkest red, 1 of 1,000 is visibly tinted
    assert errors.norm(shares[0, 1]) == 1.0
    assert errors.to_rgba(shares[1, 0])[:3] != errors.to_rgba(0.0)[:3]
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    assert_not_blank(figure)


def test_mistakes_shows_the_models_wrong_predictions():
    rng = np.random.default_rng(1)
    x = rng.random((6, 16)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2])
    p = np.array([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.1, 0.3, 0.6],
                  [0.2, 0.75, 0.05], [0.1, 0.8, 0.1], [0.55, 0.4, 0.05]])
    figure = plotting.plot_mistakes(x, y, p, class_names=["zero", "one", "two"])
    titles = [ax.get_title() for ax in figure.axes if ax.images]
    # samples 3, 1, 5 are wrong, sorted by confidence 75 %, 70 %, 55 %
    assert titles == ["true zero\npredicted one (75 %)", "true one\npredicted zero (70 %)",
                      "true two\npredicted zero (55 %)"]
    np.testing.assert_array_equal(figure.axes[0].images[0].get_array(), x[3].reshape(4, 4))
    assert figure._suptitle.get_text() == "3 of 3 mistakes (most confident first)"
    assert_not_blank(figure)
    with pytest.raises(ValueError, match=r"got 6 images, y_true \(5,\)"):
        plotting.plot_mistakes(x, y[:5], p)


def test_dense_weights_are_the_kernel_columns():
    dd.utils.set_random_seed(0)
    model = dd.Sequential([dd.Input(shape=(64,)), layers.Dense(5, activation="softmax")])
    figure = plotting.plot_dense_weights(model, class_names=list("abcde"))
    kernel = model.layers[0].kernel.numpy()
    panels = [ax for ax in figure.axes if ax.images]
    assert len(panels) == 5
    for j, ax in enumerate(panels):
        np.testing.assert_array_equal(ax.images[0].get_array(), kernel[:, j].reshape(8, 8))
        assert ax.get_title() == "abcde"[j]
    assert_not_blank(figure)
    with pytest.raises(ValueError, match=r"has 64 inputs, which do not form images of shape"):
        plotting.plot_dense_weights(model, image_shape=(7, 7))


def test_filters_are_the_kernels(convnet):
    model, _ = convnet
    figure = plotting.plot_filters(model)
    kernel = model.get_layer("conv").kernel.numpy()
    panels = [ax for ax in figure.axes if ax.images]
    assert len(panels) == 4
    for f, ax in enumerate(panels):
        np.testing.assert_array_equal(ax.images[0].get_array(), kernel[:, :, 0, f])
    assert figure._suptitle.get_text() == "conv: 4 filters of 3x3x1"
    assert_not_blank(figure)
    with pytest.raises(ValueError, match="the model has no Conv2D layer"):
        plotting.plot_filters(dd.Sequential([dd.Input(shape=(3,)), layers.Dense(2)]))


def test_feature_maps_equal_the_extractors_output(convnet, tmp_path):
    model, x = convnet
    figure = plotting.plot_feature_maps(model, x[7], "conv", path=tmp_path / "maps.png")
    extractor = dd.models.Model(model.input, model.get_layer("conv").output)
    expected = extractor(x[7:8])[0]
    panels = [ax for ax in figure.axes if ax.images]
    np.testing.assert_array_equal(panels[0].images[0].get_array(), x[7, :, :, 0])
    assert len(panels) == 1 + 4
    for c, ax in enumerate(panels[1:]):
        np.testing.assert_allclose(ax.images[0].get_array(), expected[:, :, c])
    # and what the whole model computes from those maps is unchanged by the extractor
    np.testing.assert_allclose(model.predict(x[7:8], verbose=0), model(x[7:8]))
    assert (tmp_path / "maps.png").stat().st_size > 1000
    assert_not_blank(figure)


def test_plot_model_draws_layers_with_shapes(tmp_path):
    pytest.importorskip("graphviz")
    inputs = dd.Input(shape=(8,), name="pixels")
    hidden = layers.Dense(4, activation="relu", name="hidden")(inputs)
    left = layers.Dense(3, activation="softmax", name="left")(hidden)
    right = layers.Dense(1, name="right")(hidden)
    model = dd.models.Model(inputs, [left, right])
    dot = dd.utils.model_to_dot(model, show_shapes=True, show_layer_names=True,
                                show_layer_activations=True)
    source = dot.source
    for text in ("<b>pixels</b> (InputLayer)", "<b>hidden</b> (Dense)", "<b>left</b> (Dense)",
                 "Input shape: (None, 4)", "Output shape: (None, 3)", "Activation: relu"):
        assert text in source
    assert source.count("->") == 3  # pixels -> hidden -> left, hidden -> right
    dd.utils.plot_model(model, tmp_path / "model.dot", show_shapes=True)
    assert "Output shape: (None, 1)" in (tmp_path / "model.dot").read_text()
    with pytest.raises(ValueError, match="rankdir must be 'TB' or 'LR'; got rankdir='BT'"):
        dd.utils.plot_model(model, tmp_path / "m.png", rankdir="BT")
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    dd.utils.plot_model(model, tmp_path / "model.png", show_shapes=True)
    from matplotlib.image import imread

    pixels = imread(tmp_path / "model.png")
    assert pixels.shape[0] > 200 and pixels.std() > 0.1


def test_plot_model_without_graphviz_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "graphviz", None)
    model = dd.Sequential([dd.Input(shape=(3,)), layers.Dense(2)])
    with pytest.raises(ImportError, match=r"pip install dendrite\[graph\]"):
        dd.utils.plot_model(model, "unused.png")
