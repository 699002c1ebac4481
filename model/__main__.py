"""``python -m microcalc`` is the same as the ``microcalc`` command."""

import sys

from microcalc.cli import main

sys.exit(main())
