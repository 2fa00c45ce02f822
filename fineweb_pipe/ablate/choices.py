"""Multiple-choice and cloze evaluations, scored by the model's likelihood of each choice.

The format is JSONL, one question a line::

    {"context": "Question: Which gas do plants take in?\\nAnswer:", "choices": [" oxygen", " carbon dioxide"], "answer": 1}

Each choice is appended to the context as written (so a choice usually starts with a space) and the model
scores the choice's tokens given ``<|endoftext|>`` and the context (cut from the left to the model's
window). Two accuracies are reported, as OLMo's and lm-eval-harness's evaluations do: ``accuracy`` picks
the choice of highest total log-likelihood, ``accuracy_per_byte`` the highest per UTF-8 byte of the choice
(which does not favour short answers). A cloze set is the same with the candidate continuations as choices.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.tokens.tokenizer import Encoder
from fineweb_pipe.training.model import GPT
from fineweb_pipe.training.train import autocast_for

SEQUENCES_PER_BATCH = 32


@dataclass(frozen=True)
class Question:
    context: str
    choices: tuple[str, ...]
    answer: int


def load_questions(path: str) -> list[Question]:
    """The questions of a JSONL file; an error names the line and what is wrong with it."""
    questions = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = list(f)
    except OSError as exc:
        raise ConfigurationError(f"--choices {path}: cannot be read ({exc})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            question = Question(item["context"], tuple(item["choices"]), int(item["answer"]))
            valid = (isinstance(question.context, str) and len(question.choices) >= 2
                     and all(isinstance(c, str) and c for c in question.choices)
                     and 0 <= question.answer < len(question.choices))
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            raise ConfigurationError(
                f"{path}:{number}: not a question; each line must be a JSON object "
                '{"context": str, "choices": [two or more non-empty str], "answer": index of the right choice}')
        questions.append(question)
    if not questions:
        raise ConfigurationError(f"--choices {path}: holds no question")
    return questions


@dataclass(frozen=True)
class EncodedQuestion:
    context: tuple[int, ...]  # the delimiter and the context's tokens
    choices: tuple[tuple[int, ...], ...]
    choice_bytes: tuple[int, ...]
    answer: int


def encode_questions(encoder: Encoder, questions: Sequence[Question], delimiter: int) -> list[EncodedQuestion]:
    contexts = encoder.encode_batch([q.context for q in questions])
    encoded = []
    for question, context in zip(questions, contexts):
        choices = encoder.encode_batch(list(question.choices))
        encoded.append(EncodedQuestion((delimiter, *context), tuple(map(tuple, choices)),
                                       tuple(len(c.encode("utf-8")) for c in question.choices), question.answer))
    return encoded


@torch.no_grad()
def log_likelihoods(model: GPT, questions: Sequence[EncodedQuestion], seq_len: int,
                    device: torch.device) -> list[list[float]]:
    """Per question, the sum of ln p of each choice's tokens given the context (cut from the left to fit)."""
    # Every (question, choice) is one right-padded sequence: the model is causal, so padding after a
    # sequence cannot change the scores inside it.
    sequences, spans = [], []
    for question in questions:
        for choice in question.choices:
            full = (question.context + choice)[-(seq_len + 1):]
            sequences.append(full)
            spans.append(min(len(choice), len(full) - 1))
    scores = [0.0] * len(sequences)
    # Batches of sequences of like length: little padding to compute.
    by_length = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    for at in range(0, len(by_length), SEQUENCES_PER_BATCH):
        rows = by_length[at:at + SEQUENCES_PER_BATCH]
        padded = np.zeros((len(rows), max(len(sequences[i]) for i in rows)), dtype=np.int64)
        for row, i in enumerate(rows):
            padded[row, :len(sequences[i])] = sequences[i]
        tokens = torch.from_numpy(padded).to(device)
        with autocast_for(device):
            logits, _ = model(tokens[:, :-1])
        log_probs = F.log_softmax(logits.float(), dim=-1).gather(-1, tokens[:, 1:, None])[..., 0].double()
        for row, i in enumerate(rows):
            end = len(sequences[i]) - 1  # targets are positions 1..len-1, i.e. log_probs[0..len-2]
            scores[i] = float(log_probs[row, end - spans[i]:end].sum())
    result, at = [], 0
    for question in questions:
        result.append(scores[at:at + len(question.choices)])
        at += len(question.choices)
    return result


def accuracy(model: GPT, questions: Sequence[EncodedQuestion], seq_len: int, device: torch.device) -> dict[str, float]:
    """``accuracy`` (total log-likelihood) and ``accuracy_per_byte`` (per byte of the choice)."""
    model.eval()
    likelihoods = log_likelihoods(model, questions, seq_len, device)
    total = per_byte = 0
    for question, scores in zip(questions, likelihoods):
        total += int(np.argmax(scores)) == question.answer
        per_byte += int(np.argmax(np.array(scores) / np.array(question.choice_bytes))) == question.answer
    return {"accuracy": total / len(questions), "accuracy_per_byte": per_byte / len(questions)}
