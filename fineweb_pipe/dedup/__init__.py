"""MinHash near-duplicate removal that scales out: signatures, LSH buckets, distributed components."""

from fineweb_pipe.dedup.normalize import NormalizeConfig, normalize
from fineweb_pipe.dedup.signatures import MinHasher, MinHashParams, shingle_hash, shingles, to_lean_minhash
from fineweb_pipe.dedup.span_stage import SpanDedup
from fineweb_pipe.dedup.stage import MinHashDedup

__all__ = ["MinHashDedup", "MinHashParams", "MinHasher", "NormalizeConfig", "SpanDedup", "normalize", "shingle_hash",
           "shingles", "to_lean_minhash"]
