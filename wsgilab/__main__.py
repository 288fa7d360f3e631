"""``python -m wsgilab``: the command line (``wsgilab.cli``)."""

import sys

from wsgilab.cli import main

if __name__ == "__main__":
    sys.exit(main())
