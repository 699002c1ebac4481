"""``python -m microcalc`` is the same as the ``microcalc`` command."""

from microcalc.cli import run

run()
