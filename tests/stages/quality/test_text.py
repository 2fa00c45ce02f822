from __future__ import annotations

import json
import re

import pytest
from sample_texts import sample_texts

from fineweb_pipe.stages.quality import text as split


def test_words_split_punctuation_like_spacy() -> None:
    assert split.words("Hello, world! It's well-known...") == [
        "Hello", ",", "world", "!", "It", "'s", "well", "-", "known", "...",
    ]  # fmt: skip


def test_words_keep_abbreviations_numbers_urls_and_emails_whole() -> None:
    tokens = split.words("Mr. Smith paid $1,000.50 in the U.S. at 12:30, see https://ex.com/a?b=1. Mail me@x.org")
    for token in ("Mr.", "1,000.50", "U.S.", "12:30", "https://ex.com/a?b=1", "me@x.org", "$"):
        assert token in tokens
    assert tokens[-1] == "me@x.org"


def test_words_keep_combining_marks_inside_words() -> None:
    assert split.words("नमस्ते مَرْحَبًا café") == ["नमस्ते", "مَرْحَبًا", "café"]


def test_cjk_characters_are_tokens_of_their_own() -> None:
    assert split.words("iPhoneを販売した。") == ["iPhone", "を", "販", "売", "し", "た", "。"]


def test_symbol_tokens() -> None:
    assert [split.is_symbol(t) for t in ["...", "#", "'s", "U.S.", "word", "€", "«"]] == [
        True, True, False, False, False, False, True,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("", 0),
        ("   ", 0),
        ("One sentence without an end", 1),
        ("First one. Second one! Third one? Fourth.", 4),
        ("Mr. Smith met J. K. Rowling in the U.S. yesterday.", 1),
        ("He paused... then went on.", 1),
        ("“Hi,” he said. “Bye.” She left.", 3),
        ("Pi is 3.14 here.", 1),
        ("你好。我很好！谢谢。", 3),
    ],
)
def test_count_sentences(text: str, sentences: int) -> None:
    assert split.count_sentences(text) == sentences


def test_duplicates_count_repeats_after_the_first() -> None:
    assert split.duplicates(["a", "bb", "a", "bb", "a", "c"]) == (3, 4)


def test_ngram_top_and_duplicated_chars() -> None:
    ngrams = split.NGrams("a b a b a b c".split())
    assert ngrams.top_ngram_chars(2) == 3 * 3  # "a b" three times
    assert ngrams.top_ngram_chars(10) == 0  # fewer words than n
    # 5-grams: "a b a b a", "b a b a b", "a b a b c": no repeat
    assert ngrams.duplicated_ngram_chars(5) == 0
    assert split.NGrams("x y z x y z".split()).duplicated_ngram_chars(3) == 3


def test_top_ngram_ties_go_to_the_first_seen() -> None:
    # "aaa b" and "c d" both occur twice; the first seen is the longer one.
    assert split.NGrams("aaa b c d aaa b c d".split()).top_ngram_chars(2) == 2 * len("aaa b")


@pytest.mark.slow
def test_word_counts_agree_with_spacy_on_real_english(shared_data) -> None:
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    rows = [json.loads(line) for line in (shared_data / "text" / "clean_web_texts.dev.jsonl").open()]
    english = [r["text"] for r in rows if not re.search("[\u3040-\u30ff\u4e00-\u9fff]", r["text"])]
    ours = theirs = 0
    for text in english[:60]:
        ours += sum(not split.is_symbol(t) for t in split.words(text))
        theirs += sum(any(c.isalnum() for c in t.text) for t in nlp(text) if t.text.strip())
    assert abs(ours - theirs) / theirs < 0.03


def _reference_duplicated_chars(tokens: list[str], n: int) -> int:
    """The greedy scan over n-gram strings, written plainly, to check the hashed version against."""
    seen: set[tuple[str, ...]] = set()
    repeated = position = 0
    while position < len(tokens) - n + 1:
        gram = tuple(tokens[position : position + n])
        if gram in seen:
            repeated += sum(map(len, gram))
            position += n
        else:
            seen.add(gram)
            position += 1
    return repeated


@pytest.fixture(params=["sample", pytest.param("real", marks=pytest.mark.shared_data)])
def articles(request: pytest.FixtureRequest) -> list[str]:
    """40 articles: the sample prose, or real web texts where ../shared/data is present."""
    if request.param == "sample":
        return sample_texts(40)
    shared_data = request.getfixturevalue("shared_data")
    return [json.loads(line)["text"] for line in (shared_data / "text" / "clean_web_texts.dev.jsonl").open()][:40]


def test_hashed_ngram_counts_equal_plain_string_counts(articles: list[str]) -> None:
    texts = articles + ["a b c d e " * 50 + "x y", "one two three four five six " * 3]
    for text in texts:
        tokens = split.words(text)
        ngrams = split.NGrams(tokens)
        for n in range(5, 11):
            exact = _reference_duplicated_chars(tokens, n)
            assert ngrams.duplicated_ngram_chars(n) == exact
            assert ngrams.repeated_ngram_chars_bound(n) >= exact


def test_words_of_a_text_seen_lately_are_not_tokenized_again() -> None:
    text = "A text the Gopher filters and FineWeb's each tokenize, one after the other."
    first = split.words(text)
    assert split.words("".join([text[:10], text[10:]])) is first  # an equal string, not the same object
    assert first == split._TOKEN_RE.findall(text)


def test_texts_held_for_reuse_are_bounded_by_their_characters(monkeypatch) -> None:
    monkeypatch.setattr(split, "_RECENT_WORDS", {})
    monkeypatch.setattr(split, "_recent_chars", 0)
    monkeypatch.setattr(split, "_RECENT_WORDS_MAX_CHARS", 100)
    texts = [f"text number {i} " * 3 for i in range(20)]
    for text in texts:
        assert split.words(text) == split._TOKEN_RE.findall(text)
    assert split._recent_chars == sum(map(len, split._RECENT_WORDS)) <= 100
    assert list(split._RECENT_WORDS) == texts[-len(split._RECENT_WORDS):]  # the latest ones
    assert split.words("x" * 101) == ["x" * 101]  # longer than the bound: not held
    assert "x" * 101 not in split._RECENT_WORDS
