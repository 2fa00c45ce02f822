"""The ``fineweb-pipe`` command line."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from fineweb_pipe.engine.base import make_executor
from fineweb_pipe.engine.runner import Runner, output_folder
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.report import write_report
from fineweb_pipe.report.cli import add_commands as add_report_commands
from fineweb_pipe.tokens.cli import add_commands as add_token_commands
from fineweb_pipe.training.cli import add_commands as add_training_commands

# Subpackages that bring their own commands, each through ``add_commands(subparsers)``. Training's
# imports torch or jax only when `train` runs, so the pipeline works without them.
COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_token_commands, add_training_commands, add_report_commands)


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
                        help="output folder, a file system path (a rerun into it resumes)")
    parser.add_argument("--engine", choices=("ray", "local"), default="ray",
                        help="ray (default): embedded or on a cluster; local: in-process on one core, for "
                             "debugging and for small machines (no Ray daemons: least memory)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (default: $RAY_ADDRESS, else start an embedded local Ray)")
    parser.add_argument("--workers", type=int, default=None, help="stage workers (default: the cluster's CPUs)")
    parser.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _output_folder(path: str) -> str:
    try:
        return output_folder(path)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def run_pipeline(pipeline: Pipeline, args: argparse.Namespace) -> int:
    """Run ``pipeline`` as the parsed ``args`` say; used by ``fineweb-pipe run`` and by pipeline files."""
    with make_executor(args.engine, args.workers, args.address) as executor:
        Runner(pipeline, args.input, args.output, executor, show_progress=not args.quiet).run()
    if not args.no_report:
        print(f"report: {write_report(args.output)}", file=sys.stderr)
    return 0


def main_for_pipeline(pipeline: Pipeline, argv: Sequence[str] | None = None) -> int:
    """Entry point of a pipeline file run as a script (``python pipelines/x.py``, ``ray job submit``)."""
    parser = argparse.ArgumentParser(description=pipeline.description or pipeline.name)
    add_run_arguments(parser)
    return run_pipeline(pipeline, parser.parse_args(argv))


def _cmd_run(args: argparse.Namespace) -> int:
    return run_pipeline(load_pipeline(args.pipeline), args)


def _cmd_sample(args: argparse.Namespace) -> int:
    from fineweb_pipe.sample import write_sample_warc

    path = write_sample_warc(args.output, pages=args.pages, seed=args.seed)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fineweb-pipe",
        description="Turn raw web crawls into LLM pretraining data (the FineWeb recipe on Ray).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a pipeline file over WARC/WET/JSONL/Parquet input",
                         description="Run a pipeline definition (a Python file defining `pipeline`).")
    run.add_argument("pipeline", help="pipeline file, e.g. pipelines/fineweb.py")
    add_run_arguments(run)
    run.set_defaults(func=_cmd_run)

    sample = sub.add_parser("sample", help="generate the sample WARC used by the demo",
                            description="Write a synthetic but realistic WARC file: boilerplate, several "
                                        "languages, duplicates, spam URLs, PII, non-HTML records.")
    sample.add_argument("--output", "-o", default="demo/input/sample.warc.gz", help="file to write")
    sample.add_argument("--pages", type=int, default=600, help="HTML pages to generate")
    sample.add_argument("--seed", type=int, default=0)
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
