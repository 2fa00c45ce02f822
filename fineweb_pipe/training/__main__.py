"""``python -m fineweb_pipe.training FOLDER --out RUN [...]``: the same as ``fineweb-pipe train``."""

from __future__ import annotations

import argparse
import sys

from fineweb_pipe.training.cli import EXIT_CODES, configure_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fineweb_pipe.training", description=__doc__, epilog=EXIT_CODES)
    configure_parser(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
