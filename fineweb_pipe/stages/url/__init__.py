"""URL filtering: block lists (domains, hosts, URLs) and banned words."""

from fineweb_pipe.stages.url.url_filter import UrlFilter

__all__ = ["UrlFilter"]
