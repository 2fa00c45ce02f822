"""MinHash for scripts written without spaces: with ``shingles="auto"`` (the default) Chinese and Japanese
near-duplicates are found (character 5-grams), which whitespace words never find; English shingles as before."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fineweb_pipe.dedup import MinHashDedup, MinHasher, MinHashParams, normalize
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.readers import reader_for
from fineweb_pipe.stage import ShardRef
from fineweb_pipe.stages.extraction import TrafilaturaExtractor
from fineweb_pipe.stats import ReaderCounts

RECALL_JACCARD = 0.85  # pairs at or above this character-5-gram Jaccard must be found
NEAR_DUPLICATE_JACCARD = 0.7  # a predicted pair below this is a false positive
DISTINCT_JACCARD = 0.3  # real texts more alike than this are not used as two bases (they may rightly cluster)

# Written for this test: short Chinese and Japanese paragraphs (the fallback when ../shared/data is absent).
BUILT_IN = [
    "今天早上我们在河边散步，看到很多人在钓鱼和跑步。天气很好，阳光照在水面上，远处的山也看得很清楚。"
    "中午我们去了一家小饭馆，吃了面条和饺子，价格便宜，味道也不错。",
    "这个城市的图书馆每周开放六天，周一闭馆。馆内有三层阅览室，二楼是儿童区，三楼可以借阅外文书籍。"
    "借书需要办理读者证，每人最多可以同时借十本书，借期为一个月。",
    "昨日は朝から雨が降っていたので、家で本を読んで過ごしました。午後になると雨がやんだので、"
    "近くの公園まで散歩に出かけました。桜の花がまだ少し残っていて、とてもきれいでした。",
    "この店では毎朝パンを焼いています。人気があるのはクロワッサンとメロンパンで、昼前には売り切れて"
    "しまうことが多いです。予約をすれば、好きな時間に受け取ることができます。",
]


def char_ngrams(text: str, n: int = 5) -> set[str]:
    return {text[i:i + n] for i in range(max(len(text) - n + 1, 1))}


def char_jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the raw texts' character 5-grams (no normalisation)."""
    x, y = char_ngrams(a), char_ngrams(b)
    return len(x & y) / len(x | y)


def mutate(text: str, edits: int, alphabet: str, rng: random.Random) -> str:
    """``text`` with ``edits`` characters substituted, inserted or deleted at random places."""
    chars = list(text)
    for _ in range(edits):
        at = rng.randrange(len(chars))
        kind = rng.choice(("substitute", "insert", "delete"))
        if kind == "substitute":
            chars[at] = rng.choice(alphabet)
        elif kind == "insert":
            chars.insert(at, rng.choice(alphabet))
        elif len(chars) > 1:
            del chars[at]
    return "".join(chars)


def dedup(texts: list[str], tmp_path: Path, params: MinHashParams) -> dict[str, int]:
    """Run MinHashDedup over ``texts`` (ids ``d<i>``, two shards) and return each id's cluster."""
    half = len(texts) // 2
    tmp_path.mkdir(parents=True, exist_ok=True)
    refs = []
    for shard, (lo, hi) in {"s0": (0, half), "s1": (half, len(texts))}.items():
        path = tmp_path / f"{shard}.parquet"
        pq.write_table(pa.table({"id": [f"d{i}" for i in range(lo, hi)], "text": texts[lo:hi]}), path)
        refs.append(ShardRef(shard, str(path)))
    ctx = PhaseContext.local("minhash_dedup", refs, str(tmp_path / "run"))
    MinHashDedup(params).run(ctx)
    files = [ctx.output_path(r.shard) for r in refs] + [str(p) for p in (tmp_path / "run" / "removed").rglob("*.parquet")]
    table = pa.concat_tables([pq.read_table(f, columns=["id", "dedup_cluster_id"]) for f in files])
    return dict(zip(table["id"].to_pylist(), table["dedup_cluster_id"].to_pylist()))


def test_built_in_chinese_and_japanese_near_duplicates_are_removed(tmp_path: Path) -> None:
    rng = random.Random(3)
    variants = [mutate(text, 1, text, rng) for text in BUILT_IN]
    assert all(char_jaccard(a, b) >= RECALL_JACCARD for a, b in zip(BUILT_IN, variants))
    texts = BUILT_IN + variants
    n = len(BUILT_IN)
    clusters = dedup(texts, tmp_path / "auto", MinHashParams())
    assert [clusters[f"d{i}"] == clusters[f"d{i + n}"] for i in range(n)] == [True] * n
    assert len(set(clusters.values())) == n  # and the originals stay apart
    # Split on whitespace, each paragraph is a handful of "words": no pair is found.
    words = dedup(texts, tmp_path / "words", MinHashParams(shingles="words"))
    assert len(set(words.values())) == 2 * n


def test_characters_of_unspaced_scripts_are_words_where_they_outnumber_words_and_english_is_unchanged() -> None:
    assert normalize("これはPythonの例です。", split_unspaced=True) == "こ れ は python の 例 て す"
    assert normalize("今天 天气，很好！", split_unspaced=True) == "今 天 天 气 很 好"
    assert normalize("한국어 문장입니다", split_unspaced=True) == normalize("한국어 문장입니다")  # Hangul has spaces
    english = ["The council met on Tuesday, 12 March 2024, to discuss the new budget for the café.",
               "The film 寄生虫 (Parasite) by Bong Joon-ho won the Palme d'Or at Cannes in 2019, a first for Korea.",
               "Résumé: naïve coöperation — “quoted” text with ümlauts and 5 digits 12345.", "", None]
    assert np.array_equal(MinHasher(MinHashParams()).signatures(english),
                          MinHasher(MinHashParams(shingles="words")).signatures(english))


def lid_paragraphs(shared: Path, language: str, rng: random.Random) -> list[str]:
    """Paragraphs of 4 to 8 sentences of ``language`` from the LID sentences, each sentence used once."""
    sentences = [line.split("\t", 1)[1].strip() for line in
                 (shared / "lid" / "sentences.dev.tsv").read_text(encoding="utf-8").splitlines()
                 if line.startswith(f"{language}\t")]
    rng.shuffle(sentences)
    paragraphs, at = [], 0
    while at < len(sentences):
        size = rng.randint(4, 8)
        paragraphs.append("".join(sentences[at:at + size]))
        at += size
    return [p for p in paragraphs if len(p) >= 60]


def clueweb_pages(shared: Path) -> list[str]:
    """The ClueWeb09 Japanese pages (legacy charsets) as the pipeline reads and extracts them, each page's
    own text: the lines no other page has (the shop's menus, footer and ranking repeat on every page).
    Pages whose own text is like an earlier page's (the same product under two URLs) are left out, so that
    each generated family is one page."""
    path = str(shared / "warc" / "resiliparse-clueweb-quirk.warc.gz")
    pages = pa.concat_tables(list(reader_for(path).iter_batches(path, ReaderCounts())))
    extractor = TrafilaturaExtractor(timeout_s=None)
    extractor.begin_shard()  # the file is one shard: trafilatura's cache of repeated paragraphs starts empty
    texts = extractor.process(pages).kept.column("text").to_pylist()
    extractor.close()
    lines = [[line.strip() for line in text.splitlines() if line.strip()] for text in texts]
    pages_with = Counter(line for page in lines for line in set(page))
    own = ["\n".join(line for line in page if pages_with[line] == 1) for page in lines]
    distinct: list[str] = []
    for text in own:
        if len(text) >= 60 and all(char_jaccard(text, kept) < DISTINCT_JACCARD for kept in distinct):
            distinct.append(text)
    return distinct


# The ClueWeb pages give 13 texts: 40 copies of each, so that one pair moves the figures by ~0.002, not ~0.01.
@pytest.mark.shared_data
@pytest.mark.parametrize(("language", "source", "variants"), [("zh", "lid", 4), ("ja", "lid", 4), ("ja", "clueweb", 40)])
def test_recall_and_precision_on_real_text(language: str, source: str, variants: int, shared_data: Path,
                                           tmp_path: Path) -> None:
    """Each real text (a paragraph of LID sentences, or a ClueWeb page's own text) with ``variants`` copies of
    1 to 6 random character edits: pairs at character-5-gram Jaccard >= 0.85 end in one cluster (recall
    >= 0.95), and clustered pairs are near-duplicates (precision >= 0.99)."""
    rng = random.Random(7)
    bases = lid_paragraphs(shared_data, language, rng) if source == "lid" else clueweb_pages(shared_data)
    alphabet = "".join(bases)
    texts, pairs = list(bases), []
    for i, base in enumerate(bases):
        for _ in range(variants):
            variant = mutate(base, rng.randint(1, 6), alphabet, rng)
            pairs.append((i, len(texts), char_jaccard(base, variant)))
            texts.append(variant)
    family = list(range(len(bases))) + [i for i, _, _ in pairs]
    clusters = dedup(texts, tmp_path, MinHashParams())
    cluster = [clusters[f"d{i}"] for i in range(len(texts))]
    high = [cluster[a] == cluster[b] for a, b, j in pairs if j >= RECALL_JACCARD]
    assert len(high) >= 80, f"only {len(high)} pairs at Jaccard >= {RECALL_JACCARD}: too few to measure"
    recall = sum(high) / len(high)
    members: dict[int, list[int]] = {}
    for doc, c in enumerate(cluster):
        members.setdefault(c, []).append(family[doc])
    cross = sum((len(f) ** 2 - sum(f.count(x) ** 2 for x in set(f))) // 2 for f in members.values())
    same = [(cluster[a] == cluster[b], j) for a, b, j in pairs]
    predicted = sum(s for s, _ in same) + cross
    correct = sum(s and j >= NEAR_DUPLICATE_JACCARD for s, j in same)
    print(f"{language} {source}: {len(bases)} texts (median {sorted(map(len, bases))[len(bases) // 2]} characters), "
          f"{len(high)} pairs at J >= {RECALL_JACCARD} of {len(pairs)} (lowest J {min(j for _, _, j in pairs):.3f}), "
          f"recall {recall:.3f}, precision {correct / predicted:.3f} ({predicted} predicted pairs, {cross} across texts)")
    assert recall >= 0.95
    assert correct / predicted >= 0.99
