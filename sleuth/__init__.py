"""sleuth as an importable package: ``python3 -m sleuth`` (from the repository root, or
once installed with ``pip install .``) runs the same program as the ``sleuth/sleuth``
launcher.  The code lives in :mod:`sleuth.sleuth_pkg` (also importable on its own as
``sleuth_pkg`` with ``sleuth/`` on ``sys.path``, which the launcher and the tests do)."""

from .sleuth_pkg import __version__  # noqa: F401


def main():
    """Console-script entry point (pyproject.toml: ``sleuth = "sleuth:main"``)."""
    from .sleuth_pkg.cli import script_main
    script_main()
