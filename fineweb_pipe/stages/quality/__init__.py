"""The FineWeb text-quality filters: Gopher repetition, Gopher quality, C4 quality and FineWeb quality."""

from fineweb_pipe.stages.quality.c4 import C4QualityFilter
from fineweb_pipe.stages.quality.fineweb import FineWebQualityFilter
from fineweb_pipe.stages.quality.gopher_quality import GopherQualityFilter
from fineweb_pipe.stages.quality.gopher_repetition import GopherRepetitionFilter

__all__ = ["C4QualityFilter", "FineWebQualityFilter", "GopherQualityFilter", "GopherRepetitionFilter"]
