from __future__ import annotations

import numpy as np
from datasketch import MinHash, MinHashLSH

from fineweb_pipe.dedup import MinHasher, MinHashParams, normalize, shingle_hash, shingles, to_lean_minhash
from fineweb_pipe.dedup.lsh import star_edges

TEXT = ("The council met on Tuesday, 12 March 2024, to discuss the new budget.\n"
        "Residents raised concerns about road repairs, school funding and the café on Main Street.")


def test_normalize_folds_case_punctuation_digits_accents_and_spaces() -> None:
    assert normalize("Héllo,  WORLD!\u00a0“Quoted” 2024 — e-mail") == "hello world quoted 0000 email"


def test_signatures_equal_datasketch_with_the_same_shingles_and_hash() -> None:
    params = MinHashParams()
    texts = [TEXT, TEXT.upper(), "short text", "", None, "Ünïcödé — “quotes” and ٣ digits " * 3]
    ours = MinHasher(params).signatures(texts)
    for text, row in zip(texts, ours):
        reference = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=shingle_hash, scheme="affine64")
        reference.update_batch(shingles(text or "", params))
        assert np.array_equal(reference.hashvalues, row)
    assert np.array_equal(ours[0], ours[1])  # case is folded


def test_signatures_load_into_datasketch_lsh() -> None:
    edited = TEXT.replace("road repairs", "road works")
    other = "A completely different page about gardening, tomatoes and watering schedules in summer."
    sigs = MinHasher().signatures([TEXT, edited, other])
    lsh = MinHashLSH(threshold=0.5, num_perm=MinHasher().params.num_perm)
    lsh.insert("original", to_lean_minhash(sigs[0]))
    assert lsh.query(to_lean_minhash(sigs[1])) == ["original"]
    assert lsh.query(to_lean_minhash(sigs[2])) == []


def test_params_for_threshold_use_datasketch_search() -> None:
    params = MinHashParams.for_threshold(0.8, num_perm=112)
    assert params.num_perm <= 112 and (1 / params.num_bands) ** (1 / params.rows_per_band) > 0.6


def test_star_edges_link_each_bucket_to_its_smallest_member_once() -> None:
    band = np.array([0, 0, 0, 1, 1, 0], np.uint8)
    band_hash = np.array([7, 7, 7, 7, 7, 9], np.uint64)
    node = np.array([30, 10, 20, 30, 10, 40], np.int64)
    u, v = star_edges(band, band_hash, node)
    assert sorted(zip(u.tolist(), v.tolist())) == [(20, 10), (30, 10)]
