"""``UrlDedup``: one document per normalised URL (Common Crawl fetches the same URL again across
segments and dumps); :mod:`.keyed` does the rounds.

A URL is normalised as: scheme and host lower case, the default port (80 for http, 443 for https)
dropped, the fragment dropped, trailing slashes of the path dropped, and query parameters whose name
matches one of ``drop_params`` (shell patterns, ``utm_*`` by default) dropped; the other parameters keep
their order. A URL that does not parse is compared as it is; a document without one is kept.
"""

from __future__ import annotations

import fnmatch
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.dedup.keyed import KeyedDedup

URL_DUPLICATE = "url_duplicate"
#: Query parameters that track a visit and never change the page.
TRACKING_PARAMS = ("utm_*", "fbclid", "gclid")
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str, drop_params: tuple[str, ...] = TRACKING_PARAMS) -> str:
    """``url`` normalised as the module's docstring says."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, an unbalanced IPv6 bracket
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        host = f"{parts.netloc.rsplit('@', 1)[0]}@{host}"
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    query = parts.query
    if drop_params and query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, v) for k, v in pairs if not any(fnmatch.fnmatchcase(k, p) for p in drop_params)])
    return f"{scheme}://{host}{parts.path.rstrip('/')}" + (f"?{query}" if query else "")


class UrlDedup(KeyedDedup):
    """Remove documents whose normalised URL is another kept document's (``drop_reason``
    ``url_duplicate``, ``duplicate_of`` the kept id). ``keep``: "latest" (by ``date``, the default: the
    newest crawl of a page), "longest" (by ``length_column``) or "first"; ties go to input order.
    ``drop_params``: query parameter names to ignore (shell patterns); ``()`` compares every parameter."""

    default_name = "url_dedup"
    reason = URL_DUPLICATE
    method = "url"

    def __init__(self, keep: str = "latest", drop_params: tuple[str, ...] = TRACKING_PARAMS,
                 length_column: str = schema.TEXT, docs_per_partition: int = 1_000_000,
                 batch_size: int = 10_000) -> None:
        super().__init__(keep, length_column, docs_per_partition, batch_size)
        self.drop_params = tuple(drop_params)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (schema.URL,)

    def key_bytes(self, batch: pa.Table) -> list[bytes | None]:
        return [normalize_url(u, self.drop_params).encode("utf-8", "surrogatepass") if u else None
                for u in batch[schema.URL].to_pylist()]

    def describe(self) -> dict[str, Any]:
        return {"column": schema.URL, "drop_params": list(self.drop_params)}
