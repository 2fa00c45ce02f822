"""Byte-level BPE training and loading; the tiktoken fast path must give HF's ids exactly."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import NamedTuple

import pytest
from sample_texts import sample_texts, script_sentences

from fineweb_pipe.tokens.tokenizer import ENDOFTEXT, TokenizerSpec, fertility, tiktoken_from_hf, train_bpe


class Corpus(NamedTuple):
    texts: list[str]
    vocab_size: int  # one BPE reaches on half of ``texts`` (merges of pairs seen twice)


@pytest.fixture(scope="module", params=["sample", pytest.param("real", marks=pytest.mark.shared_data)])
def corpus(request: pytest.FixtureRequest) -> Corpus:
    """Articles, then sentences in other scripts (digits and punctuation of all kinds): the sample prose and
    generated sentences in 26 scripts (a vocabulary of 1,000: the prose reaches about 1,330), or real web
    articles and sentences in 75 languages (4,000) where ../shared/data is present."""
    if request.param == "sample":
        return Corpus(sample_texts(400) + script_sentences(260), 1000)
    shared_data: Path = request.getfixturevalue("shared_data")
    out = []
    for path in sorted((shared_data / "text").glob("*.jsonl")):
        out += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    lines = (shared_data / "lid" / "sentences.dev.tsv").read_text(encoding="utf-8").split("\n")
    return Corpus(out + [line.split("\t", 1)[1] for line in lines[::4] if "\t" in line], 4000)


@pytest.fixture(scope="module")
def texts(corpus: Corpus) -> list[str]:
    return corpus.texts


@pytest.fixture(scope="module")
def vocab_size(corpus: Corpus) -> int:
    return corpus.vocab_size


@pytest.fixture(scope="module", params=["gpt4", "gpt2"])
def trained(request, texts, vocab_size, tmp_path_factory) -> TokenizerSpec:
    path = str(tmp_path_factory.mktemp("tok") / "tokenizer.json")
    train_bpe(texts[::2], path, vocab_size=vocab_size, pattern=request.param)
    spec = TokenizerSpec(path)
    assert spec.load().vocab_size == vocab_size  # reached: the tests below see a full vocabulary
    return spec


def test_tiktoken_gives_hf_ids_on_real_multilingual_text(trained, texts):
    encoder = trained.load()
    assert encoder.engine == "tiktoken", encoder.fallback_reason
    assert encoder.encode_batch(texts) == encoder.encode_batch_hf(texts)


def test_decoding_gives_back_the_text(trained, texts):
    encoder = trained.load()
    for text in texts[:300]:
        assert encoder.decode(encoder.encode_batch([text])[0]) == text


def test_special_tokens_first_and_never_matched_inside_text(trained, vocab_size):
    encoder = trained.load()
    assert encoder.token_id(ENDOFTEXT) == 0 and encoder.vocab_size == vocab_size
    ids = encoder.encode_batch([f"before {ENDOFTEXT} after"])[0]
    assert 0 not in ids and encoder.decode(ids) == f"before {ENDOFTEXT} after"
    with pytest.raises(KeyError, match="no token"):
        encoder.token_id("<|im_start|>")


@pytest.mark.slow
def test_training_is_deterministic(texts, vocab_size, tmp_path):
    for name in ("a.json", "b.json"):
        train_bpe(texts[:400], str(tmp_path / name), vocab_size=vocab_size // 2)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_hf_path_when_tiktoken_cannot_reproduce(trained, tmp_path):
    data = json.loads(Path(trained.path).read_text(encoding="utf-8"))
    data["normalizer"] = {"type": "Lowercase"}
    assert tiktoken_from_hf(data) == "has a normalizer"
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    encoder = TokenizerSpec(str(tmp_path / "tokenizer.json")).load()
    assert encoder.engine == "hf"
    assert encoder.decode(encoder.encode_batch(["Hello World"])[0]) == "hello world"


def test_tiktoken_file_loads_with_the_same_ids(trained, texts, vocab_size, tmp_path):
    """A tiktoken ranks file written from the trained vocabulary encodes like the tokenizer.json."""
    encoder = trained.load()
    ranks, _, _ = tiktoken_from_hf(json.loads(Path(trained.path).read_text(encoding="utf-8")))
    path = tmp_path / "bpe.tiktoken"
    path.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in ranks.items()))
    from_file = TokenizerSpec(str(path), pattern=_split_regex(trained)).load()
    assert from_file.engine == "tiktoken" and from_file.token_id(ENDOFTEXT) == vocab_size
    assert from_file.encode_batch(texts[:500]) == encoder.encode_batch(texts[:500])


def _split_regex(spec: TokenizerSpec) -> str:
    return json.loads(Path(spec.path).read_text(encoding="utf-8"))["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]


def test_fertility_on_english_text(trained, texts):
    report = fertility(trained.load(), texts[:200])
    assert report["documents"] == 200
    assert 1.0 < report["tokens_per_word"] < 3.0
    assert 2.0 < report["bytes_per_token"] < 6.0
