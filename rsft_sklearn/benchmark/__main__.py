"""Entry point of ``rsft-bench`` and ``python -m rsft_sklearn.benchmark``."""

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
