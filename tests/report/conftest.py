"""Runs for report tests.

- ``stats``: a hand-written ``stats.json`` of a FineWeb-style run over three WARC files with every section
  filled, web samples that include hostile and broken HTML, and histograms built with the real
  :mod:`fineweb_pipe.stats` classes. Quick, and it holds what a small real run lacks (hostile text, large
  clusters, errors), but it is only as true as its author: so also
- ``demo_run``: a real run of the FineWeb recipe (``pipelines/fineweb.py``) over the demo's sample crawl,
  in-process, whose ``stats.json`` is what the report must read; and ``language_run``, real runs of a
  short pipeline whose language filter may remove every document."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from fineweb_pipe.sample import write_sample_warc
from fineweb_pipe.stats import Histogram

REPO = Path(__file__).resolve().parents[2]

HOSTILE_TEXT = "<script>alert(1)</script><img src=x onerror=alert(2)>"
BROKEN_HTML = "</table></div><!-- never closed <b>bold <a href='javascript:alert(4)'>click</a> <style>body{display:none}"

ARTICLE = ("The city council voted on Tuesday to extend the river walk by another two kilometres, "
           "connecting the old harbour to the new university campus.\nConstruction is expected to begin "
           "in the spring and to take eighteen months, the mayor said.\nResidents raised concerns about "
           "parking during the works; the council promised temporary spaces near the station.")
RECIPE = ("Preheat the oven to 180°C. Cream the butter and sugar until pale, then beat in the eggs one at a "
          "time.\nFold in the flour and a pinch of salt, pour into a lined tin and bake for 35 minutes.\n"
          "Let it cool before slicing — the crumb firms up as it cools.")
COOKIE_BANNER = ("We use cookies to improve your experience. By continuing to browse you agree to our use of "
                 "cookies.\nAccept\nManage preferences\nPrivacy policy")
SPAM = "cheap watches cheap watches cheap watches best price best price best price buy now buy now"
GERMAN = "Die Bundesregierung hat am Mittwoch neue Regeln für den Ausbau der Windenergie beschlossen."


def _histogram(histogram: Histogram, rng: np.random.Generator, n: int, mean_log: float, sigma: float) -> dict:
    histogram.add(np.round(rng.lognormal(mean_log, sigma, n)))
    return histogram.to_json()


def _profile(rng: np.random.Generator, docs: int, scale: float, languages: dict[str, int]) -> dict[str, Any]:
    scores = Histogram.linear_bins(0.0, 1.0, 20)
    scores.add(np.clip(rng.beta(8, 1.5, docs), 0, 0.999))
    return {
        "docs": docs,
        "chars": _histogram(Histogram.log_bins(), rng, docs, 7.6 + scale, 1.1),
        "words": _histogram(Histogram.log_bins(), rng, docs, 6.0 + scale, 1.1),
        "lines": _histogram(Histogram.log_bins(), rng, docs, 2.8 + scale / 2, 0.9),
        "languages": languages,
        "language_score": scores.to_json(),
    }


def _stage(name: str, kind: str, phase: int, docs_in: int, dropped: dict[str, int], bytes_in: int,
           bytes_out: int, cpu_s: float, counters: dict[str, int] | None = None) -> dict[str, Any]:
    return {"name": name, "kind": kind, "phase": phase, "docs_in": docs_in,
            "docs_out": docs_in - sum(dropped.values()), "bytes_in": bytes_in, "bytes_out": bytes_out,
            "dropped": dropped, "cpu_s": cpu_s, "counters": counters or {}}


def build_stats() -> dict[str, Any]:
    """A complete stats document, as the end of a FineWeb-style run on three WARC files would write it."""
    rng = np.random.default_rng(8)
    stages = [
        _stage("url_filter", "filter", 0, 12000, {"blocklisted_domain": 201, "banned_word_in_url": 57},
               480_311_207, 470_228_100, 3.2),
        _stage("trafilatura_extract", "transform", 0, 11742, {"no_text_extracted": 811},
               470_228_100, 41_902_337, 211.5),
        _stage("language_filter", "filter", 0, 10931, {"not_english": 5811}, 41_902_337, 19_880_120, 14.9),
        _stage("gopher_repetition", "filter", 0, 5120, {"top_2gram_ratio": 210, "dup_line_frac": 208},
               19_880_120, 18_200_310, 22.4),
        _stage("gopher_quality", "filter", 0, 4702,
               {"too_few_words": 512, "symbol_word_ratio": 169, "stop_words": 120}, 18_200_310, 16_004_982, 9.8),
        _stage("c4_quality", "filter", 0, 3901, {"too_few_sentences": 181, "curly_bracket": 67, "lorem_ipsum": 3},
               16_004_982, 15_190_443, 6.1),
        _stage("fineweb_quality", "filter", 0, 3650, {"line_punct_ratio": 140, "short_line_ratio": 108},
               15_190_443, 14_388_901, 5.7),
        _stage("minhash_dedup", "global", 1, 3402, {"near_duplicate": 391}, 14_388_901, 12_803_115, 48.3),
        _stage("pii_redact", "transform", 2, 3011, {}, 12_803_115, 12_790_004, 31.0,
               {"pii_EMAIL_ADDRESS": 412, "pii_IP_ADDRESS": 88, "pii_PHONE_NUMBER": 65, "pii_docs_with_pii": 377,
                "pii_docs_analyzed": 1290}),
        _stage("tokenize", "global", 3, 3011, {}, 12_790_004, 12_790_004, 19.6,
               {"tokens": 4_218_655, "text_bytes": 12_790_004}),
    ]
    removed = {
        "url_filter": {"blocklisted_domain": [{"id": "<urn:uuid:9d1e>", "url": "http://casino-bonus.example/slots",
                                               "value": "casino-bonus.example", "text": SPAM}]},
        "language_filter": {"not_english": [{"id": "<urn:uuid:77ab>", "url": "https://nachrichten.example.de/wind",
                                             "value": "de", "text": GERMAN}]},
        "gopher_quality": {"too_few_words": [
            {"id": "<urn:uuid:0bad>", "url": "http://evil.example/<script>alert(3)</script>", "value": "7",
             "text": HOSTILE_TEXT},
            {"id": "<urn:uuid:0bae>", "url": "https://forum.example.org/t/1?x=\"><svg onload=alert(5)>",
             "value": "41", "text": BROKEN_HTML},
            {"id": "<urn:uuid:0baf>", "url": "https://shop.example.com/cart", "value": "12", "text": COOKIE_BANNER},
        ]},
        "c4_quality": {"curly_bracket": [{"id": "<urn:uuid:c4c4>", "url": "https://dev.example.io/snippet",
                                          "value": None, "text": "function f() { return {a: 1}; }"}]},
    }
    kept = [{"id": f"<urn:uuid:k{i}>", "url": url, "text": text} for i, (url, text) in enumerate([
        ("https://www.riverside-gazette.example/news/river-walk", ARTICLE),
        ("https://bakewithme.example.net/lemon-drizzle", RECIPE),
        ("https://blog.example.org/\u202etxt.exe", "A title with a right-to-left override: \u202eedcba"),
    ])]
    tokens_per_shard = {"fineweb_val_000000.bin": 211_880, "fineweb_train_000001.bin": 1_003_112,
                        "fineweb_train_000002.bin": 1_001_840, "fineweb_train_000003.bin": 1_002_566,
                        "fineweb_train_000004.bin": 999_257}
    top_tokens = [{"token": t, "id": i, "count": c} for t, i, c in [
        (" the", 262, 198_311), (",", 11, 187_002), (".", 13, 171_945), ("\n", 198, 120_003),
        (" of", 286, 97_510), (" and", 290, 92_644), (" to", 284, 88_120), ("<script>", 50_001, 12)]]
    return {
        "format": 1,
        "run": {"pipeline": "fineweb", "engine": "ray", "workers": 2, "started": "2026-11-24T09:12:03Z",
                "wall_s": 412.7, "input_files": [f"s3://commoncrawl/crawl-data/CC-MAIN-2024-10/{i}.warc.gz"
                                                 for i in range(3)], "output": "/data/out/fineweb-demo"},
        "reader": {"files": 3, "documents": 12000, "bytes": 480_311_207,
                   "records": {"response": 13_732, "request": 13_732, "metadata": 13_732},
                   "skipped": {"non_html_content_type": 1410, "http_status_not_200": 322},
                   "errors": {"charset_decode": 4, "truncated_gzip": 1},
                   "error_list": []},
        "stages": stages,
        "profiles": {
            "before": _profile(rng, 10931, 0.0, {"en": 5120, "de": 1402, "ru": 1133, "fr": 902, "es": 811,
                                                  "ja": 640, "zh": 512, "it": 301, "<b>xx</b>": 110}),
            "after": _profile(rng, 3011, 0.3, {"en": 3011}),
        },
        "samples": {"removed": removed, "kept": kept},
        "errors": [{"file": "s3://commoncrawl/crawl-data/CC-MAIN-2024-10/2.warc.gz", "offset": 88_120_331,
                    "type": "truncated_gzip", "message": "unexpected end of gzip stream"},
                   {"file": "s3://commoncrawl/crawl-data/CC-MAIN-2024-10/0.warc.gz", "offset": 1_204_556,
                    "type": "charset_decode", "message": "'<meta charset=\"x-evil\">' is not a known charset"}],
        "sections": {
            # The layout MinHashDedup writes (fineweb_pipe/dedup/stage.py); test_real_run checks a real one.
            "dedup": {"method": "minhash_lsh", "docs_in": 3402, "removed": 391, "removed_share": 391 / 3402,
                      "clusters": 212, "docs_in_clusters": 603,
                      "cluster_sizes": {"2": 150, "3": 38, "4": 12, "5": 6, "7": 3, "12": 2, "31": 1},
                      "examples": [
                          {"cluster_id": 31, "size": 31, "members": [
                              {"cluster_id": 31, "kept": True, "id": "<urn:uuid:d1>",
                               "url": "https://shop-a.example/privacy", "text": COOKIE_BANNER},
                              {"cluster_id": 31, "kept": False, "id": "<urn:uuid:d2>",
                               "url": "https://shop-b.example/privacy", "text": COOKIE_BANNER},
                              {"cluster_id": 31, "kept": False, "id": "<urn:uuid:d3>",
                               "url": "https://shop-c.example/legal", "text": COOKIE_BANNER}]},
                          {"cluster_id": 4, "size": 2, "members": [
                              {"cluster_id": 4, "kept": True, "id": "<urn:uuid:d4>",
                               "url": "https://wire.example/river-walk", "text": ARTICLE},
                              {"cluster_id": 4, "kept": False, "id": "<urn:uuid:d5>",
                               "url": "https://local.example/2024/river", "text": ARTICLE}]},
                      ],
                      "params": {"num_bands": 14, "rows_per_band": 8}},
            "tokens": {"folder": "/data/out/fineweb-demo/tokens", "format": "llmc", "dtype": "uint16",
                       "vocab_size": 50257, "engine": ["tiktoken"], "tiktoken_mismatches": [],
                       "totals": {"train": {"tokens": 4_006_775, "documents": 2860},
                                  "val": {"tokens": 211_880, "documents": 151}},
                       "shards": len(tokens_per_shard), "tokens_per_shard": tokens_per_shard,
                       "bytes_per_token": 3.0318, "top_tokens": top_tokens},
        },
    }


def write_run(folder: Path, stats: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def full_stats() -> dict[str, Any]:
    return build_stats()


@pytest.fixture
def stats(full_stats: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy that a test may change."""
    return copy.deepcopy(full_stats)


@pytest.fixture
def run_dir(tmp_path: Path, stats: dict[str, Any]) -> Path:
    return write_run(tmp_path / "fineweb-demo", stats)


@pytest.fixture
def hostile_text() -> str:
    return HOSTILE_TEXT


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[[str, dict[str, Any]], Path]:
    """Write a run folder named ``name`` holding ``stats``; returns the folder."""
    return lambda name, stats: write_run(tmp_path / name, stats)


def _run(pipeline: Path, crawl: Path, output: Path) -> Path:
    from fineweb_pipe.cli import main  # imports the engines (Ray): only for the tests of real runs

    assert main(["run", str(pipeline), "--input", str(crawl), "--output", str(output), "--engine", "local",
                 "--quiet"]) == 0
    return output


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of the demo (`make demo`: the sample crawl with `fineweb-pipe sample`'s defaults,
    through pipelines/fineweb.py), run in-process; the run wrote its own report.html. Do not change it."""
    work = tmp_path_factory.mktemp("demo")
    write_sample_warc(str(work / "input" / "sample.warc.gz"))
    return _run(REPO / "pipelines" / "fineweb.py", work / "input", work / "output")


LANGUAGE_RUN = """
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.stages.extraction import TrafilaturaExtractor
from fineweb_pipe.stages.language import LanguageFilter

pipeline = Pipeline(name="language-only", steps=[
    TrafilaturaExtractor(), LanguageFilter(languages={languages!r}, keep_removed={keep_removed!r})])
"""


@pytest.fixture(scope="session")
def language_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[tuple[str, ...], bool], Path]:
    """Real runs of a short pipeline, trafilatura then a language filter keeping ``languages`` (with or
    without keeping what it removed), over a small sample crawl; e.g. ``("kl",)`` removes every document.
    Do not change them."""
    work = tmp_path_factory.mktemp("language-only")
    write_sample_warc(str(work / "input" / "sample.warc.gz"), pages=60, seed=1)
    runs: dict[tuple[tuple[str, ...], bool], Path] = {}

    def run(languages: tuple[str, ...], keep_removed: bool) -> Path:
        key = (languages, keep_removed)
        if key not in runs:
            name = f"{'-'.join(languages)}-{'kept' if keep_removed else 'dropped'}"
            pipeline = work / f"{name.replace('-', '_')}.py"
            pipeline.write_text(LANGUAGE_RUN.format(languages=languages, keep_removed=keep_removed), encoding="utf-8")
            runs[key] = _run(pipeline, work / "input", work / name)
        return runs[key]

    return run


def _devtools() -> ModuleType:
    # Test modules cannot import each other in importlib mode; load the client by path instead.
    spec = importlib.util.spec_from_file_location("report_devtools", Path(__file__).with_name("devtools.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium with a page open, driven over the DevTools protocol; skipped without chromium."""
    devtools = _devtools()
    if not (Path(devtools.CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"chromium not found at {devtools.CHROMIUM}: apt-get install -y chromium")
    with devtools.Browser(profile_dir=str(tmp_path / "chromium-profile")) as opened:
        opened.open_page()
        yield opened
