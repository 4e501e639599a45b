"""A training report: one self-contained HTML page a learner opens in a browser.

The page carries everything inline (styles, and every image as a base64 ``data:`` URL) and loads
nothing from the network: its Content-Security-Policy forbids any request, so it reads the same
offline, attached to a mail or copied elsewhere. ``dendrite train`` writes one as ``report.html``.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_report(path, "A run", metrics={"test accuracy": "98.11 %"})
    >>> "98.11 %" in path.read_text()
    True
"""

import base64
import html
import io
from pathlib import Path

_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #1d2430; background: #fff; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #d5dbe3;
     padding-bottom: 0.2em; }
.headline { font-size: 1.15em; margin: 0.6em 0 1em; }
.headline b { color: #0b5394; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #d5dbe3; padding: 0.25em 0.7em; text-align: left; }
th { background: #eef3f8; font-weight: 600; }
pre { background: #f5f7fa; border: 1px solid #d5dbe3; padding: 0.8em; overflow-x: auto;
      font-size: 0.85em; line-height: 1.3; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ec; }
figcaption { color: #4a5565; font-size: 0.92em; margin-top: 0.3em; }
code { background: #f5f7fa; padding: 0.05em 0.3em; }
"""


def png_bytes(figure, dpi=100):
    """A matplotlib Figure rendered to PNG bytes (by Agg, without pyplot)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _image_data(image):
    """PNG bytes from bytes, a path to a PNG file, or a matplotlib Figure."""
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, (str, Path)):
        data = Path(image).read_bytes()
    elif hasattr(image, "savefig"):
        data = png_bytes(image)
    else:
        raise TypeError("write_report: a figure must be PNG bytes, a PNG file's path or a "
                        f"matplotlib Figure; got {type(image).__name__}")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("write_report: figures must be PNG images; got data that is not PNG")
    return data


def _table(rows, header=None):
    lines = ["<table>"]
    if header:
        lines.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
    for key, value in rows:
        lines.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def write_report(path, title, command=None, headline=None, metrics=None, options=None,
                 summary=None, figures=(), text_sections=()):
    """Write a self-contained HTML report.

    Args:
        path: the ``.html`` file to write.
        title: the page's title and main heading.
        command: the command line that produced the run, shown verbatim. Default None.
        headline: one sentence under the title (e.g. the test accuracy). Default None.
        metrics: ``{name: value}`` shown as a table under "Results". Default None.
        options: ``{option: value}`` shown as a table under "Options". Default None.
        summary: preformatted text (e.g. ``model.summary()``'s table). Default None.
        figures: ``(heading, image, caption)`` triples, in page order; ``image`` is PNG bytes, a
            PNG file's path or a matplotlib Figure, embedded as a base64 ``data:`` URL.
        text_sections: ``(heading, preformatted text)`` pairs placed after the figures (e.g. the
            confusion matrix as text). Default none.

    Raises:
        TypeError, ValueError: an image is not PNG data.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # no request of any kind leaves the page: inline styles and data: images only
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if headline:
        parts.append(f'<p class="headline">{headline}</p>')
    if command:
        parts.append(f"<p>Command: <code>{html.escape(command)}</code></p>")
    if metrics:
        parts += ["<h2>Results</h2>", _table(metrics.items())]
    for heading, image, caption in figures:
        data = base64.b64encode(_image_data(image)).decode("ascii")
        parts += [
            f"<h2>{html.escape(heading)}</h2>",
            "<figure>",
            f'<img alt="{html.escape(heading)}" src="data:image/png;base64,{data}">',
            f"<figcaption>{html.escape(caption)}</figcaption>" if caption else "",
            "</figure>",
        ]
    for heading, text in text_sections:
        parts += [f"<h2>{html.escape(heading)}</h2>", f"<pre>{html.escape(text)}</pre>"]
    if summary:
        parts += ["<h2>Model</h2>", f"<pre>{html.escape(summary)}</pre>"]
    if options:
        parts += ["<h2>Options</h2>", _table(options.items())]
    parts += ["</body>", "</html>", ""]
    Path(path).write_text("\n".join(parts), encoding="utf-8")
