"""``python3 -m sleuth``: see doc/sleuth.md."""
import sys

if sys.version_info < (3, 9):
    sys.stderr.write("sleuth: Python 3.9 or later is needed (this is %d.%d)\n"
                     % sys.version_info[:2])
    sys.exit(2)

from sleuth import main  # noqa: E402

main()
