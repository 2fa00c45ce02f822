"""``fineweb-pipe ablate RUN_A RUN_B [...] --eval TEXT [...] --tokens N --seeds K``: which run's data trains
the better model. torch is imported only when the command runs."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from fineweb_pipe.ablate.plan import Model, Plan, default_names
from fineweb_pipe.errors import EXIT_INTERRUPTED, EXIT_USAGE, PipelineError
from fineweb_pipe.tokens.shards import ShardError

MODEL_HELP = {
    "n_layer": "transformer blocks", "n_head": "attention heads", "d_model": "model width",
    "seq_len": "tokens per window", "batch_size": "windows per step", "lr": "peak learning rate",
    "warmup": "linear warmup steps (default: 10%% of the steps)", "weight_decay": "AdamW decay (matrices only)",
}
EXIT_CODES = (f"exit codes: 0 done; {EXIT_USAGE} the inputs or settings do not allow the ablation (the message says "
              f"what to change); 4 a loss became NaN or infinite; {EXIT_INTERRUPTED} interrupted (rerun the same "
              "command to resume); 1 a bug (with its traceback)")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ablate", help="train the same small model on each run's documents and compare them on held-out text",
        description="Compare datasets the way FineWeb chose its recipe: one tokenizer for all, the same small GPT "
                    "trained on the same token budget of each run's documents/ (a run shorter than the budget is "
                    "repeated), --seeds times each, scored along training in bits per byte on held-out texts "
                    "(and on multiple-choice sets). Writes OUT/results.json and OUT/report.html and prints the "
                    "table and a verdict. Rerunning the same command resumes a killed ablation.",
        epilog=EXIT_CODES)
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="output folders of finished `fineweb-pipe run`s (their documents/ and stats.json); "
                             "the first is the baseline the others are judged against")
    parser.add_argument("--eval", nargs="+", required=True, dest="evals", metavar="EVAL",
                        help="held-out texts that share no page with the runs: .txt files (one document each), "
                             "JSONL, Parquet, WET or run output folders")
    parser.add_argument("--choices", nargs="+", default=[], metavar="JSONL",
                        help='multiple-choice or cloze sets, one {"context", "choices", "answer"} per line '
                             "(docs in fineweb_pipe/ablate/choices.py), scored at the end of each run")
    parser.add_argument("--tokens", type=int, required=True, help="training tokens per run (the budget)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per variant (default: %(default)s)")
    parser.add_argument("--out", "-o", default="ablation",
                        help="folder for everything the ablation writes; a rerun resumes it (default: %(default)s)")
    parser.add_argument("--names", help="comma-separated names for the runs (default: their folder names)")
    parser.add_argument("--tokenizer", help="tokenizer.json or tiktoken file for all variants (default: train one "
                                            "on an equal sample of each run)")
    defaults = {field.name: field.default for field in fields(Plan)}
    for name, help_text in (("vocab_size", "vocabulary of the trained tokenizer, at most"),
                            ("tokenizer_bytes", "text from each run to train the tokenizer on, at most"),
                            ("val_bytes", "each run's own validation split, at most (and at most a tenth of it)"),
                            ("eval_bytes", "text scored per held-out set (its first bytes)"),
                            ("eval_points", "evaluations along each run, evenly spaced"),
                            ("threads", "torch CPU threads (0: torch's default)")):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=defaults[name],
                            help=f"{help_text} (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="torch device: auto (CUDA if present), cpu, cuda "
                                                         "(default: %(default)s)")
    for name, help_text in MODEL_HELP.items():
        default = getattr(Model(), name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=float if name in ("lr", "weight_decay") else int,
                            default=default, help=f"{help_text} (default: %(default)s)")
    parser.set_defaults(func=ablate_command)


def ablate_command(args: argparse.Namespace) -> int:
    try:
        plan = Plan(
            runs=tuple(os.path.abspath(r) for r in args.runs),
            names=tuple(args.names.split(",") if args.names else default_names(args.runs)),
            evals=tuple(os.path.abspath(e) for e in args.evals),
            choice_evals=tuple(os.path.abspath(c) for c in args.choices),
            tokens=args.tokens, seeds=args.seeds,
            model=Model(**{name: getattr(args, name) for name in MODEL_HELP}),
            tokenizer=os.path.abspath(args.tokenizer) if args.tokenizer else None,
            vocab_size=args.vocab_size, tokenizer_bytes=args.tokenizer_bytes, val_bytes=args.val_bytes,
            eval_bytes=args.eval_bytes, eval_points=args.eval_points, device=args.device, threads=args.threads)
        from fineweb_pipe.ablate.ablation import run_ablation
        from fineweb_pipe.ablate.report import write_report

        out = os.path.abspath(args.out)
        results = run_ablation(plan, out)
        report = write_report(results, out)
    except ModuleNotFoundError as exc:
        print(f"fineweb-pipe ablate needs {exc.name}: pip install 'fineweb-pipe[train]'", file=sys.stderr)
        return EXIT_USAGE
    except (PipelineError, ShardError) as exc:
        print(f"ablate: {exc}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, PipelineError) else EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{results['trained_tokens']:,} tokens per run ({results['steps']} steps), {plan.seeds} seeds, "
          f"{results['parameters']:,} parameters\n")
    print(results["table"])
    print()
    print("\n".join(results["verdicts"]))
    print(f"\nreport: {report}")
    return 0
