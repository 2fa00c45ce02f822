from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fineweb_pipe.stages.url import UrlFilter
from fineweb_pipe.stages.url.blocklists import normalize_url


def _decide(stage: UrlFilter, urls: list[str]) -> list[tuple[str, str] | None]:
    return [(d.reason, d.value) if d else None for d in stage.decide(pa.table({"url": urls}))]


def _ut1(root: Path) -> Path:
    """A UT1-style blacklist folder: one category plain, one gzipped, one not selected."""
    (root / "adult").mkdir(parents=True)
    (root / "adult" / "domains").write_text("badsite.com\nads.tracker.net\n")
    (root / "adult" / "urls").write_text("example.org/some/page.html\n")
    (root / "gambling").mkdir()
    with gzip.open(root / "gambling" / "domains.gz", "wt") as f:
        f.write("casino-royal.biz\n")
    (root / "news").mkdir()
    (root / "news" / "domains").write_text("bbc.co.uk\n")
    return root


def test_default_lists_block_domains_words_and_subwords(tmp_path: Path) -> None:
    stage = UrlFilter(cache_dir=tmp_path)
    got = _decide(stage, [
        "https://www.pornhub.com/view_video.php?viewkey=1",
        "https://fr.xhamster.com/videos/1",
        "https://blog.example.com/best-porn-sites",
        "https://example.com/sexy-hot-girls.html",
        "https://example.com/sexy-summer-dresses.html",
        "https://x.example.net/freepornvideos/page2",
        "https://en.wikipedia.org/wiki/Essex",
        "https://www.ford.com/1998-escort-review",
    ])
    assert got == [
        ("url_domain_blocklist", "pornhub.com"),
        ("url_domain_blocklist", "xhamster.com"),
        ("url_hard_banned_word", "porn"),
        ("url_soft_banned_words", "sexy hot girls"),
        None,  # one soft word is below the threshold of 2
        ("url_banned_subword", "freeporn"),
        None,
        None,
    ]


def test_ut1_layout_gz_and_subdomain_matching(tmp_path: Path) -> None:
    lists = _ut1(tmp_path / "ut1")
    stage = UrlFilter(domain_lists=(), blocklist_dirs=[lists], categories=["adult", "gambling"],
                      hard_word_lists=(), soft_word_lists=(), subword_lists=(), cache_dir=tmp_path / "cache")
    got = _decide(stage, [
        "http://badsite.com/",
        "https://deep.sub.badsite.com/x",          # subdomain of a listed domain
        "https://ads.tracker.net/pixel",           # listed host
        "https://cdn.ads.tracker.net/pixel",       # below a listed host
        "https://www.tracker.net/",                # sibling of a listed host: kept
        "https://casino-royal.biz/play",           # from the gzipped category
        "https://www.bbc.co.uk/news",              # category not selected
        "HTTPS://WWW.Example.org/some/page.html/#top",
        "https://example.org/some/other.html",
    ])
    assert got == [
        ("url_domain_blocklist", "badsite.com"),
        ("url_domain_blocklist", "badsite.com"),
        ("url_host_blocklist", "ads.tracker.net"),
        ("url_host_blocklist", "ads.tracker.net"),
        None,
        ("url_domain_blocklist", "casino-royal.biz"),
        None,
        ("url_blocklist", "example.org/some/page.html"),
        None,
    ]


def test_plain_gz_lists_soft_threshold_and_unparsable(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "domains.txt.gz", "wt") as f:
        f.write("# my list\nspamsite.info\n\n")
    soft = tmp_path / "soft.txt"
    soft.write_text("cheap\npills\nonline\n")
    stage = UrlFilter(domain_lists=[tmp_path / "domains.txt.gz"], soft_word_lists=[soft], hard_word_lists=(),
                      subword_lists=(), soft_word_threshold=3, cache_dir=tmp_path / "cache")
    got = _decide(stage, [
        "http://spamsite.info/x",
        "https://shop.com/cheap-pills",
        "https://shop.com/cheap-pills-online",
        "not a url",
        "http://[::1/broken",
    ])
    assert got[0] == ("url_domain_blocklist", "spamsite.info")
    assert got[1] is None
    assert got[2] == ("url_soft_banned_words", "cheap pills online")
    assert [g[0] for g in got[3:]] == ["url_unparsable"] * 2


def test_documents_without_a_url_are_kept_and_counted(tmp_path: Path) -> None:
    stage = UrlFilter(cache_dir=tmp_path / "cache")
    batch = pa.table({"id": ["a", "b", "c", "d"], "url": [None, "", "  ", "not a url"]})
    result = stage.process(batch)
    assert result.kept.column("id").to_pylist() == ["a", "b", "c"]
    assert result.counters == {"documents_without_url": 3}
    no_column = stage.process(pa.table({"id": ["a", "b"], "text": ["x", "y"]}))  # Parquet without url
    assert no_column.kept.num_rows == 2 and no_column.counters == {"documents_without_url": 2}
    empty = stage.process(pa.table({"id": pa.array([], pa.string()), "url": pa.array([], pa.string())}))
    assert empty.kept.num_rows == 0 and not empty.counters


def test_lists_compile_once_to_a_shared_mapped_file(tmp_path: Path) -> None:
    domains = tmp_path / "domains"
    domains.write_text("".join(f"site{i}.com\n" for i in range(1000)))
    cache = tmp_path / "cache"
    first = UrlFilter(domain_lists=[domains], cache_dir=cache)
    first.setup()
    compiled = sorted(cache.glob("domains-*.npy"))
    assert len(compiled) == 1
    second = UrlFilter(domain_lists=[domains], cache_dir=cache)
    second.setup()
    assert sorted(cache.glob("domains-*.npy")) == compiled  # reused, not rebuilt
    assert isinstance(second._domains.hashes, np.memmap) and len(second._domains) == 1000
    assert _decide(second, ["https://site999.com/", "https://site1000.com/"])[0][0] == "url_domain_blocklist"
    # A changed list gets a new compiled file.
    domains.write_text("other.com\n")
    third = UrlFilter(domain_lists=[domains], cache_dir=cache)
    assert _decide(third, ["https://site1.com/", "https://other.com/"]) == [None, ("url_domain_blocklist", "other.com")]
    # Pickling for a worker ships parameters, not the mapped arrays.
    assert len(pickle.dumps(second)) < 2000


def test_missing_inputs_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        UrlFilter(domain_lists=[tmp_path / "nope.txt"], cache_dir=tmp_path).setup()
    lists = _ut1(tmp_path / "ut1")
    with pytest.raises(FileNotFoundError, match="'porn'.*adult, gambling, news"):
        UrlFilter(blocklist_dirs=[lists], categories=["porn"], cache_dir=tmp_path).setup()


def test_normalize_url() -> None:
    assert normalize_url("HTTP://www.Example.com/A/b/#frag") == "example.com/a/b"
    assert normalize_url("example.com/x") == "example.com/x"


def test_urls_of_a_real_warc_pass(shared_data: Path, tmp_path: Path) -> None:
    from fineweb_pipe.readers.warc import WarcReader
    from fineweb_pipe.stats import ReaderCounts

    batch = next(WarcReader(batch_docs=50).iter_batches(str(shared_data / "warc/bench-scrapinghub_aeb.warc.gz"),
                                                        ReaderCounts()))
    result = UrlFilter(cache_dir=tmp_path).process(batch)
    assert result.kept.num_rows == batch.num_rows  # news articles: nothing blocked
