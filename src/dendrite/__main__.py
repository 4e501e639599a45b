"""``python -m dendrite``: the ``dendrite`` command line (see :mod:`dendrite.cli`)."""

from dendrite.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
