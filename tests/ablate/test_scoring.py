"""Bits per byte and multiple-choice scores against computations by hand on a tiny model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sample_texts import sample_texts

from fineweb_pipe.ablate.choices import EncodedQuestion, Question, accuracy, encode_questions, load_questions, log_likelihoods
from fineweb_pipe.ablate.scoring import TokenStream, score, window_starts
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.tokens.tokenizer import ENDOFTEXT, Encoder, TokenizerSpec, train_bpe
from fineweb_pipe.training.config import GPTConfig
from fineweb_pipe.training.model import GPT

CPU = torch.device("cpu")
SEQ_LEN = 16


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_bpe(sample_texts(30), str(path), vocab_size=350)
    return TokenizerSpec(str(path)).load()


def tiny_model(vocab_size: int, seed: int = 0, seq_len: int = SEQ_LEN) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size, seq_len, n_layer=1, n_head=2, d_model=16)).eval()


TEXTS = ["The river ran past the mill. ", "Zoë paid 12 € for bread — and jam.", "short"]


def test_a_uniform_model_costs_log2_vocab_bits_per_token(encoder: Encoder) -> None:
    model = tiny_model(encoder.vocab_size)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()  # every logit 0: p = 1 / vocab for every token
    stream = TokenStream.encode(encoder, TEXTS, encoder.token_id(ENDOFTEXT))
    text_tokens = sum(len(ids) for ids in encoder.encode_batch(TEXTS))  # the delimiters are not scored
    text_bytes = sum(len(t.encode("utf-8")) for t in TEXTS)
    assert stream.scored_tokens == text_tokens and stream.text_bytes == text_bytes
    result = score(model, stream, SEQ_LEN, CPU)
    assert result.loss == pytest.approx(math.log(encoder.vocab_size), rel=1e-6)
    assert result.bpb == pytest.approx(text_tokens * math.log2(encoder.vocab_size) / text_bytes, rel=1e-6)


def test_bits_per_byte_equals_a_token_by_token_computation(encoder: Encoder) -> None:
    model = tiny_model(encoder.vocab_size, seed=3)
    delimiter = encoder.token_id(ENDOFTEXT)
    stream = TokenStream.encode(encoder, TEXTS * 3, delimiter)
    assert len(stream.tokens) > 3 * SEQ_LEN  # several windows and a shorter last one
    # By hand: each window's context starts at its own first token; a target's cost is -ln softmax.
    nats = 0.0
    tokens = stream.tokens
    for start in range(0, len(tokens) - 1, SEQ_LEN):
        window = tokens[start:start + SEQ_LEN + 1]
        with torch.no_grad():
            logits = model(torch.tensor(window[None, :-1]))[0][0].double().numpy()
        for position, target in enumerate(window[1:]):
            if target != delimiter:
                row = logits[position]
                nats += math.log(np.exp(row - row.max()).sum()) + row.max() - row[target]
    result = score(model, stream, SEQ_LEN, CPU)
    assert result.bpb == pytest.approx(nats / math.log(2) / stream.text_bytes, rel=1e-5)
    assert result.loss == pytest.approx(nats / stream.scored_tokens, rel=1e-5)


def test_every_token_after_the_first_is_a_target_once() -> None:
    for length in (2, 16, 17, 18, 40):
        starts = window_starts(length, SEQ_LEN)
        targets = [t for s in starts for t in range(s + 1, min(s + SEQ_LEN + 1, length))]
        assert targets == list(range(1, length))


def test_choice_log_likelihood_by_hand_and_batched_equals_alone(encoder: Encoder) -> None:
    model = tiny_model(encoder.vocab_size, seed=5, seq_len=64)
    questions = [Question("The river ran past the", (" mill.", " bread and jam"), 0),
                 Question("Zoë paid", (" 12 €", " nothing", " a lot for it"), 2)]
    encoded = encode_questions(encoder, questions, encoder.token_id(ENDOFTEXT))
    together = log_likelihoods(model, encoded, 64, CPU)
    assert together == [log_likelihoods(model, [q], 64, CPU)[0] for q in encoded]
    cut = log_likelihoods(model, encoded, 8, CPU)  # contexts cut from the left to the window: still scored
    assert all(len(scores) == len(q.choices) and all(math.isfinite(s) for s in scores) for q, scores in zip(encoded, cut))
    question, choice = encoded[0], encoded[0].choices[1]
    sequence = list(question.context + choice)
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([sequence[:-1]]))[0][0].double(), -1)
    by_hand = sum(float(log_probs[len(question.context) - 1 + i, t]) for i, t in enumerate(choice))
    assert together[0][1] == pytest.approx(by_hand, rel=1e-6)


def test_accuracy_picks_by_total_and_by_byte() -> None:
    class Fixed(torch.nn.Module):
        """Prefers token 1 strongly, token 2 a little: scores do not depend on the context."""

        def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, None]:
            logits = torch.zeros(*inputs.shape, 4)
            logits[..., 1], logits[..., 2] = 3.0, 1.0
            return logits, None

    # Choice 0: one token 2 (1 byte); choice 1: three tokens 1 (30 bytes). Total favours choice 0 only if
    # 3 x ln p(1) < ln p(2); per byte favours the long choice.
    question = EncodedQuestion((0,), ((2,), (1, 1, 1)), (1, 30), answer=1)
    result = accuracy(Fixed(), [question], SEQ_LEN, CPU)  # type: ignore[arg-type]
    log_p = torch.log_softmax(torch.tensor([0.0, 3.0, 1.0, 0.0]), -1)
    assert result["accuracy"] == float(3 * log_p[1] > log_p[2])
    assert result["accuracy_per_byte"] == 1.0


def test_a_malformed_question_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"context": "a", "choices": [" b", " c"], "answer": 1}\n{"context": "a", "choices": [" b"], '
                    '"answer": 0}\n')
    with pytest.raises(ConfigurationError, match=r"set.jsonl:2: not a question"):
        load_questions(str(path))
