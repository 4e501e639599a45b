"""``python -m bench``: every benchmark of issue 13 in one command (see :mod:`bench.run`)."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
