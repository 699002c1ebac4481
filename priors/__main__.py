"""``python -m microcalc.priors [FILE]``: compare the stored prior parameters with PreliZ elicitation."""

import sys

from microcalc.priors.elicit import elicit_all, format_table

rows = elicit_all(sys.argv[1] if len(sys.argv) > 1 else None)
print(format_table(rows))
sys.exit(0 if all(r.max_abs_difference < 0.02 for r in rows) else 1)
