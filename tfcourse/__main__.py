"""``python -m tfcourse``: the course's command line, :mod:`tfcourse.build.cli`."""

import sys

from tfcourse.build.cli import main

if __name__ == "__main__":
    sys.exit(main())
