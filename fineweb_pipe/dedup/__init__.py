"""Deduplication that scales out: MinHash near-duplicates (signatures, LSH buckets, distributed components),
exact text and URL duplicates (one document per key)."""

from fineweb_pipe.dedup.benchmark_sets import Benchmark, parse_benchmarks
from fineweb_pipe.dedup.decontaminate import Decontaminate
from fineweb_pipe.dedup.exact import ExactDedup
from fineweb_pipe.dedup.normalize import NormalizeConfig, normalize
from fineweb_pipe.dedup.signatures import MinHasher, MinHashParams, shingle_hash, shingles, to_lean_minhash
from fineweb_pipe.dedup.span_stage import SpanDedup
from fineweb_pipe.dedup.stage import MinHashDedup
from fineweb_pipe.dedup.url import TRACKING_PARAMS, UrlDedup, normalize_url

__all__ = ["TRACKING_PARAMS", "Benchmark", "Decontaminate", "ExactDedup", "MinHashDedup", "MinHashParams",
           "MinHasher", "NormalizeConfig", "SpanDedup", "UrlDedup", "normalize", "normalize_url", "parse_benchmarks", "shingle_hash",
           "shingles", "to_lean_minhash"]
