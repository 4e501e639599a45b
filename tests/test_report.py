"""The training report: a self-contained page, checked in a real (headless) browser."""

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from dendrite import cli, report

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)
needs_browser = pytest.mark.skipif(BROWSER is None, reason="chromium is not installed")


class _Page(HTMLParser):
    """The visible text, the image sources and every URL-valued attribute of a page."""

    def __init__(self):
        super().__init__()
        self.text, self.images, self.urls, self._skip = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._skip += tag in ("style", "script", "title")
        if tag == "img":
            self.images.append(attrs["src"])
        self.urls += [value for key, value in attrs.items() if key in ("src", "href", "action")]

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script", "title")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(html):
    page = _Page()
    page.feed(html)
    page.text = " ".join(" ".join(page.text).split())
    return page


def browse(path, tmp_path, width=1200, height=1800):
    """Render ``path`` in headless chromium: (screenshot pixels, console lines, the DOM)."""
    flags = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "screenshot.png"
    url = path.resolve().as_uri()
    result = subprocess.run([*flags, f"--screenshot={shot}", f"--window-size={width},{height}",
                             url], capture_output=True, text=True, timeout=120, check=False)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120, check=False).stdout
    from PIL import Image

    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    return pixels, console, dom


def png(figure_size=(2, 2)):
    from matplotlib.figure import Figure

    figure = Figure(figsize=figure_size)
    figure.subplots().plot([0, 1, 2], [2, 0, 1])
    return report.png_bytes(figure)


def test_page_is_self_contained(tmp_path):
    pytest.importorskip("matplotlib")
    image = png()
    (tmp_path / "curve.png").write_bytes(image)
    path = tmp_path / "report.html"
    report.write_report(path, "A <run>", command="dendrite train --epochs 2",
                        headline="Test accuracy <b>97.50 %</b>", metrics={"test loss": "0.0810"},
                        options={"epochs": 2}, summary="Model: \"mlp\"",
                        figures=[("Curve", tmp_path / "curve.png", "a caption"),
                                 ("Again", image, None)])
    html = path.read_text()
    page = parse(html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert all(url.startswith("data:") for url in page.urls)  # nothing to fetch
    assert [base64.b64decode(src.split(",", 1)[1]) for src in page.images] == [image, image]
    assert "A <run>" in page.text  # escaped, not markup
    for text in ("dendrite train --epochs 2", "Test accuracy 97.50 %", "test loss 0.0810",
                 "a caption", 'Model: "mlp"', "epochs 2"):
        assert text in page.text
    with pytest.raises(ValueError, match="figures must be PNG images"):
        report.write_report(path, "x", figures=[("bad", b"GIF89a", None)])


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """`dendrite train --model cnn` on 300 images, tested on 300."""
    pytest.importorskip("matplotlib")
    load_dataset = cli.load_dataset

    def small_test_set(name, model, limit=None):
        (x, y), (x_test, y_test) = load_dataset(name, model, limit)
        return (x, y), (x_test[:300], y_test[:300])

    out = tmp_path_factory.mktemp("cnn")
    original, cli.load_dataset = cli.load_dataset, small_test_set
    try:
        args = cli.parse_args(["train", "--model", "cnn", "--epochs", "1", "--limit", "300",
                               "--verbose", "0", "--out", str(out)])
        results = cli.train(args, print_fn=lambda *a: None, command="dendrite train --model cnn")
    finally:
        cli.load_dataset = original
    return out, results


def test_cnn_report_has_every_picture(cnn_run):
    out, results = cnn_run
    page = parse((out / "report.html").read_text())
    headings = [cli.PICTURES[name][0] for name in ("learning_curve.png", "confusion_matrix.png",
                                                   "mistakes.png", "filters.png",
                                                   "feature_maps.png")]
    positions = [page.text.index(heading) for heading in headings]
    assert positions == sorted(positions)
    assert len(page.images) == 5
    for src, name in zip(page.images, ("learning_curve", "confusion_matrix", "mistakes",
                                       "filters", "feature_maps")):
        assert base64.b64decode(src.split(",", 1)[1]) == (out / f"{name}.png").read_bytes()
    assert f"Test accuracy {100 * results['test_accuracy']:.2f} %" in page.text
    assert "dendrite train --model cnn" in page.text
    assert 'Model: "cnn"' in page.text and "conv2d" in page.text  # the summary


@needs_browser
@pytest.mark.slow
def test_report_renders_in_chromium(cnn_run, tmp_path):
    out, _ = cnn_run
    pixels, console, dom = browse(out / "report.html", tmp_path)
    assert console == []  # the page logged nothing: no error, no blocked request
    assert pixels.shape == (1800, 1200, 3)
    assert pixels.std() > 30
    not_white = (pixels < 200).any(axis=-1).mean()
    assert 0.03 < not_white < 0.9
    # the blue of the confusion matrix's diagonal is on screen, so the images were drawn
    blue = (pixels[..., 2] > 120) & (pixels[..., 0] < 60)
    assert blue.sum() > 500
    accuracy = json.loads((out / "metrics.json").read_text())["test_accuracy"]
    text = parse(dom).text
    assert f"Test accuracy {100 * accuracy:.2f} %" in text
    assert re.search(r"test accuracy \d+\.\d\d %", text)


@needs_browser
def test_browser_check_sees_console_errors(tmp_path):
    """The console check can fail: a page with a script error and a blocked image is caught."""
    page = tmp_path / "broken.html"
    page.write_text('<html><head><meta http-equiv="Content-Security-Policy" content="default-src '
                    "'none'; script-src 'unsafe-inline'\"></head><body><h1>broken</h1>"
                    '<img src="https://example.invalid/x.png"><script>notDefined()</script>'
                    "</body></html>")
    pixels, console, _ = browse(page, tmp_path, 400, 300)
    assert any("notDefined is not defined" in line for line in console)
    assert any("Content Security Policy" in line for line in console)
    assert pixels.std() > 0
