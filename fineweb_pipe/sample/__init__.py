"""A sample crawl the project makes itself, for the demo and tests (no download)."""

from fineweb_pipe.sample.crawl import build_pages, write_sample_warc

__all__ = ["build_pages", "write_sample_warc"]
