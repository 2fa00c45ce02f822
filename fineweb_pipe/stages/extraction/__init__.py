"""HTML to main text: trafilatura (FineWeb's default) and resiliparse (fast), each under a per-page
time limit in a child process; and a cheap language pre-screen to put in front of them."""

from fineweb_pipe.stages.extraction.extractor import HtmlExtractor
from fineweb_pipe.stages.extraction.prescreen import LanguagePrescreen
from fineweb_pipe.stages.extraction.resiliparse_extractor import ResiliparseExtractor
from fineweb_pipe.stages.extraction.trafilatura_extractor import TrafilaturaExtractor

__all__ = ["HtmlExtractor", "LanguagePrescreen", "ResiliparseExtractor", "TrafilaturaExtractor"]
