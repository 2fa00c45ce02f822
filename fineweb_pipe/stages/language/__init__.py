"""Language identification."""

from fineweb_pipe.stages.language.fasttext_lid import LanguageFilter

__all__ = ["LanguageFilter"]
