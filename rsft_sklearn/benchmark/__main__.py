"""Entry point of ``rsft-bench`` and ``python -m rsft_sklearn.benchmark``."""

import sys

from ._cli import console_main

# The command: main (rsft_sklearn.benchmark.main) with the command's format
# of warnings.
main = console_main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
