"""``fineweb-pipe report OUTPUT_DIR [--compare RUN_B]``: write the QA report of a finished run."""

from __future__ import annotations

import argparse
import sys

from fineweb_pipe.report import write_report


def _report(args: argparse.Namespace) -> int:
    try:
        path = write_report(args.output_dir, compare_to=args.compare)
    except (FileNotFoundError, ValueError) as err:
        print(f"fineweb-pipe report: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write OUTPUT_DIR/report.html from OUTPUT_DIR/stats.json",
        description="Write a self-contained HTML report of a run: funnel, removal reasons with samples, "
                    "languages, lengths, dedup, PII, tokens and run timings.",
    )
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="output folder of a finished run")
    parser.add_argument("--compare", metavar="RUN_B", help="another run's output folder: funnels side by side")
    parser.set_defaults(func=_report)
