"""``fineweb-pipe train-classifier``: a fastText quality classifier from positive and negative documents."""

from __future__ import annotations

import argparse
import sys

from fineweb_pipe.errors import EXIT_USAGE, ConfigurationError
from fineweb_pipe.stages.classifiers.training import (
    CARD_MARKDOWN, MODEL_FILE, LabelledTexts, TrainSettings, read_labelled, train_classifier,
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    cmd = subparsers.add_parser(
        "train-classifier", help="train a fastText quality classifier (DCLM's recipe) from positive and negative documents",
        description="Train a fastText classifier that scores documents like the positives (label hq) against the "
                    "negatives (label cc), as DCLM's quality filter: text on one line, lower-cased, word bigrams. "
                    "A stratified share is held out and its precision, recall (at 0.5) and AUC printed. Writes "
                    f"OUT/{MODEL_FILE}, OUT/model_card.json and OUT/{CARD_MARKDOWN}. The same inputs and --seed "
                    "give the same model (with one thread).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cmd.add_argument("--positive", nargs="+", default=[], help="documents of the positive class: JSONL, Parquet, "
                     "WET files, folders or globs, or a run's output folder")
    cmd.add_argument("--negative", nargs="+", default=[], help="documents of the negative class (as --positive)")
    cmd.add_argument("--input", nargs="+", default=[], help="documents labelled by --label-column instead")
    cmd.add_argument("--label-column", help="with --input: a column (or JSONL field) holding 1/0, true/false or hq/cc")
    cmd.add_argument("--out", required=True, help="folder for the model and its card")
    defaults = TrainSettings()
    cmd.add_argument("--holdout", type=float, default=defaults.holdout, help="share of each class held out")
    cmd.add_argument("--seed", type=int, default=defaults.seed, help="split and training seed")
    cmd.add_argument("--no-lowercase", action="store_true", help="keep the case of the texts")
    cmd.add_argument("--word-ngrams", type=int, default=defaults.word_ngrams, help="fastText wordNgrams")
    cmd.add_argument("--dim", type=int, default=defaults.dim, help="fastText dim")
    cmd.add_argument("--epoch", type=int, default=defaults.epoch, help="fastText epoch")
    cmd.add_argument("--lr", type=float, default=defaults.lr, help="fastText lr")
    cmd.add_argument("--min-count", type=int, default=defaults.min_count, help="fastText minCount")
    cmd.add_argument("--bucket", type=int, default=defaults.bucket, help="fastText bucket (n-gram hash rows)")
    cmd.add_argument("--threads", type=int, default=defaults.threads,
                     help="fastText threads: more is faster but not deterministic")
    cmd.set_defaults(func=train_classifier_command)


def train_classifier_command(args: argparse.Namespace) -> int:
    labelled_by_column = bool(args.input) or args.label_column is not None
    if labelled_by_column == bool(args.positive or args.negative) or (
            labelled_by_column and not (args.input and args.label_column)) or (
            not labelled_by_column and not (args.positive and args.negative)):
        print("error: give --positive and --negative, or --input with --label-column", file=sys.stderr)
        return EXIT_USAGE
    if not 0 < args.holdout < 1:
        print(f"error: --holdout {args.holdout}: give a share between 0 and 1", file=sys.stderr)
        return EXIT_USAGE
    settings = TrainSettings(lowercase=not args.no_lowercase, word_ngrams=args.word_ngrams, dim=args.dim,
                             epoch=args.epoch, lr=args.lr, min_count=args.min_count, bucket=args.bucket,
                             holdout=args.holdout, seed=args.seed, threads=args.threads)
    try:
        if labelled_by_column:
            data = read_labelled(args.input, args.out, label_column=args.label_column)
        else:
            data = read_labelled(args.positive, args.out, label=True, into=LabelledTexts())
            read_labelled(args.negative, args.out, label=False, into=data)
        card = train_classifier(data, args.out, settings)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    docs, split, held = card["data"]["documents"], card["split"], card["held_out"]
    print(f"trained on {split['train']:,} documents ({docs['positive']:,} positive, {docs['negative']:,} negative "
          f"in all); held out {split['held_out']:,}")
    print(f"held-out: precision {held['precision']:.4f}  recall {held['recall']:.4f}  AUC {held['auc']:.4f} "
          f"(positive at probability >= {held['threshold']})")
    print(f"model: {args.out}/{MODEL_FILE}  card: {args.out}/{CARD_MARKDOWN}")
    return 0
