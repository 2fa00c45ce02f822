"""Entry point that runs a pipeline of text stages (extraction, MinHash dedup, tokenization) as a script:
the library's own stages only, which Ray workers import like any installed module."""

from __future__ import annotations

from fineweb_pipe.cli import main_for_pipeline
from fineweb_pipe.dedup import MinHashDedup
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.stages.extraction import TrafilaturaExtractor
from fineweb_pipe.tokens.stage import Tokenize


def text_pipeline() -> Pipeline:
    """Three phases: extraction (streaming), dedup (global, passes documents on), tokenization (global);
    a tokenizer trained in the run (a vocabulary the sample crawl's text reaches) and several shards."""
    return Pipeline([TrafilaturaExtractor(), MinHashDedup(),
                     Tokenize(vocab_size=500, val=0.1, shard_tokens=20_000)], name="text-test")


if __name__ == "__main__":
    raise SystemExit(main_for_pipeline(text_pipeline()))
