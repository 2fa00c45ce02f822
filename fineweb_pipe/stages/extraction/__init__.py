"""HTML to main text: trafilatura (FineWeb's default) and resiliparse (fast), each under a per-page
time limit in a child process; and a cheap language pre-screen to put in front of them.

The stages are imported on first use of their name: an extraction child process imports this package
on its way to ``isolated`` and ``page_text``, and must not pay for the stages' Arrow and NumPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fineweb_pipe.stages.extraction.extractor import HtmlExtractor
    from fineweb_pipe.stages.extraction.prescreen import LanguagePrescreen
    from fineweb_pipe.stages.extraction.resiliparse_extractor import ResiliparseExtractor
    from fineweb_pipe.stages.extraction.trafilatura_extractor import TrafilaturaExtractor

__all__ = ["HtmlExtractor", "LanguagePrescreen", "ResiliparseExtractor", "TrafilaturaExtractor"]

_MODULES = {"HtmlExtractor": "extractor", "LanguagePrescreen": "prescreen",
            "ResiliparseExtractor": "resiliparse_extractor", "TrafilaturaExtractor": "trafilatura_extractor"}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
