"""Model-based quality classifiers: a fastText classifier (DCLM) and a transformer scorer (FineWeb-Edu),
and ``fineweb-pipe train-classifier`` to train the former."""

from fineweb_pipe.stages.classifiers.fasttext_classifier import FastTextClassifier
from fineweb_pipe.stages.classifiers.transformer_scorer import TransformerScorer

__all__ = ["FastTextClassifier", "TransformerScorer"]
