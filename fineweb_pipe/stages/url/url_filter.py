"""URL filter: drop documents whose URL is block-listed or carries banned words (FineWeb's step 2)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TypeGuard
from urllib.parse import urlsplit

import ahocorasick
import pyarrow as pa
import tldextract

from fineweb_pipe import schema
from fineweb_pipe.stage import Drop, Filter, Resources
from fineweb_pipe.stages.url.blocklists import (
    DEFAULT_CACHE_DIR,
    compiled_set,
    default_list,
    normalize_url,
    read_words,
    ut1_files,
)
from fineweb_pipe.stages.url.hash_set import MappedHashSet, hash_strings

_NON_ALNUM = re.compile(r"[^a-z0-9]+")

DEFAULT_DOMAIN_LISTS = (default_list("domains.txt"),)
DEFAULT_HARD_WORD_LISTS = (default_list("hard_banned_words.txt"),)
DEFAULT_SOFT_WORD_LISTS = (default_list("soft_banned_words.txt"),)
DEFAULT_SUBWORD_LISTS = (default_list("banned_subwords.txt"),)


class UrlFilter(Filter):
    """Drops a document when, in this order:

    - its URL has no host (``url_unparsable``);
    - its registered domain (``example.co.uk`` for ``a.b.example.co.uk``) is on a domain list
      (``url_domain_blocklist``), or its host or a parent host below the registered domain is
      (``url_host_blocklist``);
    - the normalized URL is on a URL list (``url_blocklist``; see :func:`blocklists.normalize_url`);
    - a token of the URL (split on non-alphanumerics) is a hard-banned word (``url_hard_banned_word``),
      or ``soft_word_threshold`` tokens are soft-banned words (``url_soft_banned_words``);
    - a banned sub-word occurs anywhere in the normalized URL (``url_banned_subword``).

    A document without a URL (null or blank, or a batch with no ``url`` column: JSONL and Parquet text
    often has none) has nothing to block: it is kept and counted under ``documents_without_url``.

    Lists are plain text files (``.gz`` allowed) or UT1 blacklist folders (``blocklist_dirs`` with
    ``categories``; None takes every category). Domain and URL lists are compiled on first use into
    sorted hash arrays cached under ``cache_dir`` and memory-mapped by every worker, so the 4.5M-domain
    UT1 list costs one copy in the page cache, not one per worker.
    """

    resources = Resources(num_cpus=1.0, memory_mb=200)
    worker_state = ("_domains", "_urls", "_hard_words", "_soft_words", "_subwords", "_tld")
    _domains: MappedHashSet
    _urls: MappedHashSet
    _hard_words: frozenset[str]
    _soft_words: frozenset[str]
    _subwords: ahocorasick.Automaton
    _tld: tldextract.TLDExtract

    def __init__(
        self,
        domain_lists: Sequence[str | os.PathLike] = DEFAULT_DOMAIN_LISTS,
        url_lists: Sequence[str | os.PathLike] = (),
        blocklist_dirs: Sequence[str | os.PathLike] = (),
        categories: Sequence[str] | None = ("adult",),
        hard_word_lists: Sequence[str | os.PathLike] = DEFAULT_HARD_WORD_LISTS,
        soft_word_lists: Sequence[str | os.PathLike] = DEFAULT_SOFT_WORD_LISTS,
        subword_lists: Sequence[str | os.PathLike] = DEFAULT_SUBWORD_LISTS,
        soft_word_threshold: int = 2,
        cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    ) -> None:
        self.domain_lists = [str(p) for p in domain_lists]
        self.url_lists = [str(p) for p in url_lists]
        self.blocklist_dirs = [str(p) for p in blocklist_dirs]
        self.categories = list(categories) if categories is not None else None
        self.hard_word_lists = [str(p) for p in hard_word_lists]
        self.soft_word_lists = [str(p) for p in soft_word_lists]
        self.subword_lists = [str(p) for p in subword_lists]
        self.soft_word_threshold = soft_word_threshold
        self.cache_dir = str(cache_dir)

    def setup(self) -> None:
        domain_files = self.domain_lists + ut1_files(self.blocklist_dirs, self.categories, "domains")
        url_files = self.url_lists + ut1_files(self.blocklist_dirs, self.categories, "urls")
        self._domains = compiled_set("domains", domain_files, self.cache_dir)
        self._urls = compiled_set("urls", url_files, self.cache_dir)
        self._hard_words = read_words(self.hard_word_lists)
        self._soft_words = read_words(self.soft_word_lists)
        self._subwords = ahocorasick.Automaton()
        for word in read_words(self.subword_lists):
            self._subwords.add_word(word, word)
        if len(self._subwords):
            self._subwords.make_automaton()
        self._tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def decide(self, batch: pa.Table) -> list[Drop | None]:
        urls = _urls(batch)
        missing = sum(1 for url in urls if not _has_url(url))
        if missing:
            self.count("documents_without_url", missing)
        decisions: list[Drop | None] = [None] * len(urls)
        # Gather every candidate key of the batch, then look them all up in one searchsorted per set.
        hosts: list[tuple[int, str, bool]] = []  # (row, host, is the registered domain)
        normalized: list[str | None] = []
        for row, url in enumerate(urls):
            if not _has_url(url):
                normalized.append(None)  # nothing to block: kept
                continue
            host = _host(url)
            if not host:
                decisions[row] = Drop("url_unparsable", url[:200])
                normalized.append(None)
                continue
            registered = self._tld.extract_str(host).top_domain_under_public_suffix
            if registered:
                hosts.append((row, registered, True))
            parts = host.split(".")
            stop = len(parts) - registered.count(".") - 1 if registered else len(parts)
            hosts.extend((row, ".".join(parts[i:]), False) for i in range(stop))
            normalized.append(normalize_url(url))
        listed_host = self._domains.contains(hash_strings(h for _, h, _ in hosts))
        for (row, host, is_registered), listed in zip(hosts, listed_host):
            if listed and decisions[row] is None:
                decisions[row] = Drop("url_domain_blocklist" if is_registered else "url_host_blocklist", host)
        present = [(row, url) for row, url in enumerate(normalized) if url is not None]
        listed_url = self._urls.contains(hash_strings(url for _, url in present))
        for (row, url), listed in zip(present, listed_url):
            if decisions[row] is None:
                decisions[row] = Drop("url_blocklist", url) if listed else self._word_decision(url)
        return decisions

    def _word_decision(self, url: str) -> Drop | None:
        tokens = _NON_ALNUM.split(url)
        for token in tokens:
            if token in self._hard_words:
                return Drop("url_hard_banned_word", token)
        soft = [t for t in tokens if t in self._soft_words]
        if len(soft) >= self.soft_word_threshold:
            return Drop("url_soft_banned_words", " ".join(soft))
        if len(self._subwords):
            for _, word in self._subwords.iter(url):
                return Drop("url_banned_subword", word)
        return None


def _urls(batch: pa.Table) -> list[str | None]:
    if schema.URL not in batch.column_names:
        return [None] * batch.num_rows
    return batch.column(schema.URL).to_pylist()


def _has_url(url: str | None) -> TypeGuard[str]:
    return bool(url and not url.isspace())


def _host(url: str) -> str | None:
    """The URL's host name, lower-cased, without port or trailing dot; None when it has none."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    return host.rstrip(".") or None if host else None
