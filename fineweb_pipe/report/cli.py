"""``fineweb-pipe report OUTPUT_DIR [--compare RUN_B] [--out PATH]``: write the QA report of a finished run."""

from __future__ import annotations

import argparse
import sys

from fineweb_pipe.errors import EXIT_OK, EXIT_USAGE
from fineweb_pipe.report import REPORT_FILE, write_report


def _report(args: argparse.Namespace) -> int:
    try:
        path = write_report(args.output_dir, compare_to=args.compare, out=args.out)
    except (OSError, ValueError) as err:  # FileNotFoundError included: the messages name the file
        print(f"fineweb-pipe report: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(path)
    return EXIT_OK


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help=f"write OUTPUT_DIR/{REPORT_FILE} (or --out) from OUTPUT_DIR/stats.json",
        description="Write a self-contained HTML report of a run: funnel, removal reasons with samples, "
                    "languages, lengths, dedup, PII, tokens and run timings.",
    )
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="output folder of a finished run")
    parser.add_argument("--compare", metavar="RUN_B", help="another run's output folder: funnels side by side")
    parser.add_argument("--out", metavar="PATH",
                        help=f"where to write the report: an .html file, or a folder to put {REPORT_FILE} in "
                             f"(default: OUTPUT_DIR/{REPORT_FILE}); for a run folder you cannot or would "
                             "rather not write to")
    parser.set_defaults(func=_report)
