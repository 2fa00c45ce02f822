"""The ``fineweb-pipe`` command line."""

from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fineweb_pipe.ablate.cli import add_commands as add_ablate_commands
from fineweb_pipe.engine.base import make_executor
from fineweb_pipe.engine.runner import Runner, output_folder
from fineweb_pipe.errors import (
    EXIT_INPUT, EXIT_INTEGRITY, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_NO_SPACE, EXIT_OK, EXIT_USAGE, ConfigurationError,
    PipelineError,
)
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.report import write_report
from fineweb_pipe.report.cli import add_commands as add_report_commands
from fineweb_pipe.stages.classifiers.cli import add_commands as add_classifier_commands
from fineweb_pipe.tokens.cli import add_commands as add_token_commands
from fineweb_pipe.training.cli import add_commands as add_training_commands

# Subpackages that bring their own commands, each through ``add_commands(subparsers)``. Training's
# imports torch or jax only when `train` runs, so the pipeline works without them.
COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_token_commands, add_training_commands, add_report_commands, add_classifier_commands, add_ablate_commands)


def load_pipeline(path: str) -> Pipeline:
    """The ``pipeline`` object defined by a pipeline file."""
    file = Path(path)
    if not file.is_file():
        raise SystemExit(f"pipeline file {path!r} not found (e.g. pipelines/fineweb.py)")
    spec = importlib.util.spec_from_file_location(f"fineweb_pipe_user_pipeline_{file.stem}", file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pipeline = getattr(module, "pipeline", None)
    if not isinstance(pipeline, Pipeline):
        raise SystemExit(f"{path}: define a module-level `pipeline = Pipeline([...])`")
    return pipeline


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", "-i", nargs="+", required=True,
                        help="input files, folders or globs; local paths or URIs (s3://bucket/crawl/*.warc.gz)")
    parser.add_argument("--output", "-o", required=True, type=_output_folder,
                        help="output folder, a file system path: new, empty, or an earlier run's (the same "
                             "pipeline and inputs resume it; anything else is refused)")
    parser.add_argument("--restart", action="store_true",
                        help="delete what earlier runs wrote to --output (only that) and start over")
    parser.add_argument("--add-inputs", action="store_true",
                        help="accept inputs that the earlier run into --output did not have: their shards are "
                             "processed and the phases that need every input (dedup, tokenization) are redone")
    parser.add_argument("--engine", choices=("ray", "local"), default="ray",
                        help="ray (default): embedded or on a cluster; local: in-process on one core, for "
                             "debugging and for small machines (no Ray daemons: least memory)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (default: $RAY_ADDRESS, else start an embedded local Ray)")
    parser.add_argument("--workers", type=_positive_int, default=None, help="stage workers (default: the cluster's CPUs)")
    parser.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of 1 or more")
    return value


def _output_folder(path: str) -> str:
    try:
        return output_folder(path)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


EXIT_CODES_HELP = (f"exit codes: {EXIT_OK} done; {EXIT_USAGE} a usage or configuration error (fix the command); "
                   f"{EXIT_INPUT} inputs could not be read (rerun to retry them); {EXIT_INTEGRITY} an output "
                   f"check failed (nothing wrong was committed); {EXIT_NO_SPACE} the disk is full (free space, rerun to "
                   f"resume); {EXIT_INTERRUPTED} interrupted (rerun to resume); "
                   f"{EXIT_INTERNAL} a bug (with its traceback)")


def run_pipeline(pipeline: Pipeline, args: argparse.Namespace) -> int:
    """Run ``pipeline`` as the parsed ``args`` say; used by ``fineweb-pipe run`` and by pipeline files."""
    stats: dict[str, Any] | None = None
    try:
        with make_executor(args.engine, args.workers, args.address) as executor:
            stats = Runner(pipeline, args.input, args.output, executor, show_progress=not args.quiet,
                           restart=args.restart, add_inputs=args.add_inputs).run()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        # While Ray shut down, the run may already be complete: say so rather than send the user to resume.
        print("interrupted: rerun the same command to resume" if stats is None else
              f"interrupted after the run had finished ({args.output}/stats.json is written)"
              + ("" if args.no_report else "; rerun the same command to write the report"), file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Every file is written whole or not at all: nothing partial is left, and a rerun resumes.
        print(f"error: no space left writing to {args.output} ({exc}); free space and rerun the same command "
              "to resume", file=sys.stderr)
        return EXIT_NO_SPACE
    if not args.no_report:
        print(f"report: {write_report(args.output)}", file=sys.stderr)
    if stats["reader"]["documents"] == 0 and stats["errors"]:
        print(f"error: no document could be read from the {stats['reader']['files']} inputs (see 'errors' in "
              f"{args.output}/stats.json)", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK


def main_for_pipeline(pipeline: Pipeline, argv: Sequence[str] | None = None) -> int:
    """Entry point of a pipeline file run as a script (``python pipelines/x.py``, ``ray job submit``)."""
    parser = argparse.ArgumentParser(description=pipeline.description or pipeline.name, epilog=EXIT_CODES_HELP)
    add_run_arguments(parser)
    return run_pipeline(pipeline, parser.parse_args(argv))


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        pipeline = load_pipeline(args.pipeline)
    except (ValueError, TypeError, PipelineError) as exc:  # the pipeline's checks (duplicate step names, a
        print(f"error: {args.pipeline}: {exc}", file=sys.stderr)  # non-stage) or a stage's (a file not found)
        return exc.exit_code if isinstance(exc, PipelineError) else EXIT_USAGE
    return run_pipeline(pipeline, args)


def _cmd_sample(args: argparse.Namespace) -> int:
    from fineweb_pipe.sample import write_sample_warc

    path = write_sample_warc(args.output, pages=args.pages, seed=args.seed)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fineweb-pipe",
        description="Turn raw web crawls into LLM pretraining data (the FineWeb recipe on Ray).",
        epilog=EXIT_CODES_HELP,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a pipeline file over WARC/WET/JSONL/Parquet input",
                         description="Run a pipeline definition (a Python file defining `pipeline`).",
                         epilog=EXIT_CODES_HELP)
    run.add_argument("pipeline", help="pipeline file, e.g. pipelines/fineweb.py")
    add_run_arguments(run)
    run.set_defaults(func=_cmd_run)

    sample = sub.add_parser("sample", help="generate the sample WARC used by the demo",
                            description="Write a synthetic but realistic WARC file: boilerplate, several "
                                        "languages, duplicates, spam URLs, PII, non-HTML records.",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sample.add_argument("--output", "-o", required=True, help="file to write, e.g. demo/input/sample.warc.gz")
    sample.add_argument("--pages", type=_positive_int, default=600, help="HTML pages to generate")
    sample.add_argument("--seed", type=int, default=0, help="the same seed gives the same file")
    sample.set_defaults(func=_cmd_sample)

    for add_commands in COMMANDS:
        add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
