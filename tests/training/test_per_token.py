"""Per-token targets in Keras' layout: outputs (batch, maxlen, classes), targets (batch, maxlen)
or one-hot, padding masks as sample_weight (batch, maxlen); the classes always last."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamfit.errors import UserError
from streamfit.training import Model

VOCABULARY, TAGS, MAXLEN = 12, 6, 6  # maxlen == tags: torch's dim=1 would read maxlen as classes


class Tagger(torch.nn.Module):
    """Embedding, a token-mixing layer, and one tag score per token: (batch, maxlen, tags)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(VOCABULARY, 16)
        self.out = torch.nn.Linear(16, TAGS)

    def forward(self, ids):
        return self.out(torch.relu(self.embed(ids)))


def _tagging(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token ids (0 pads), their tags (a function of the token) and the padding mask."""
    rng = np.random.default_rng(seed)
    # Tokens 1-11 drawn unevenly, so that one tag is the majority.
    chances = np.array([0, 8, 1, 1, 1, 1, 1, 8, 1, 1, 1, 1], dtype=float)
    ids = rng.choice(VOCABULARY, size=(rows, MAXLEN), p=chances / chances.sum())
    lengths = rng.integers(2, MAXLEN + 1, rows)
    mask = (np.arange(MAXLEN)[None, :] < lengths[:, None]).astype(np.float32)
    ids = (ids * mask).astype(np.int64)
    tags = ((ids * 5 + 1) % TAGS) * (mask > 0)
    return ids, tags.astype(np.int64), mask


def _token_accuracy(model: Model, ids: np.ndarray, tags: np.ndarray, mask: np.ndarray) -> float:
    predicted = model.predict(ids).argmax(axis=-1)
    return float(((predicted == tags) * mask).sum() / mask.sum())


def test_a_tagger_with_maxlen_equal_to_tags_beats_the_majority_baseline():
    ids, tags, mask = _tagging(512)
    model = Model(Tagger(), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  optimizer=lambda params: torch.optim.Adam(params, lr=0.05), device="cpu", seed=0)
    history = model.fit(ids, tags, sample_weight=mask, batch_size=64, epochs=8, verbose=0)
    real = tags[mask > 0]
    majority = np.bincount(real).max() / real.size
    assert majority < 0.7
    assert _token_accuracy(model, ids, tags, mask) > 0.98 > majority + 0.25
    # accuracy is per token (padding included, as Keras' metrics= without a mask).
    assert history.history["accuracy"][-1] > 0.98


def test_the_loss_is_keras_sum_over_batch_size_with_a_padding_mask():
    ids, tags, mask = _tagging(8, seed=1)
    model = Model(Tagger(), loss="sparse_categorical_crossentropy", device="cpu")
    with torch.no_grad():
        logits = model.module(torch.as_tensor(ids)).numpy()
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    per_token = -np.take_along_axis(log_probabilities, tags[..., None], axis=-1)[..., 0]
    by_hand = (per_token * mask).sum() / per_token.size  # divided by all tokens, as Keras
    assert model.evaluate(ids, tags, sample_weight=mask, batch_size=8) == pytest.approx(by_hand, rel=1e-5)
    # One-hot targets with categorical_crossentropy give the same loss.
    model.compile("adam", "categorical_crossentropy")
    one_hot = np.eye(TAGS, dtype=np.float32)[tags]
    assert model.evaluate(ids, one_hot, sample_weight=mask, batch_size=8) == pytest.approx(by_hand, rel=1e-5)
    # Weights per sample (batch,) still weigh every token of their row.
    rows = np.arange(8, dtype=np.float32)
    expected = (per_token * rows[:, None]).sum() / per_token.size
    model.compile("adam", "sparse_categorical_crossentropy")
    assert model.evaluate(ids, tags, sample_weight=rows, batch_size=8) == pytest.approx(expected, rel=1e-5)
    # class_weight applies per token.
    weights = {int(tag): float(tag + 1) for tag in range(TAGS)}
    model.compile("sgd", "sparse_categorical_crossentropy")
    step = model.test_on_batch(ids, tags, sample_weight=mask, class_weight=weights)
    assert step == pytest.approx((per_token * mask * (tags + 1)).sum() / per_token.size, rel=1e-5)


def test_per_token_accuracy_counts_tokens():
    model = Model(Tagger(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", "sparse_categorical_accuracy"], device="cpu")
    ids, tags, _ = _tagging(16, seed=2)
    _, accuracy, sparse = model.evaluate(ids, tags, batch_size=16)
    expected = (model.predict(ids).argmax(axis=-1) == tags).mean()
    assert accuracy == pytest.approx(expected) and sparse == pytest.approx(expected)


def test_a_shape_that_cannot_be_meant_names_both_shapes_and_the_fix():
    module = torch.nn.Linear(40, 5)
    model = Model(module, loss="sparse_categorical_crossentropy", device="cpu")
    x = np.zeros((64, 40), np.float32)
    with pytest.raises(UserError, match=r"outputs have shape \(64, 5\), so the targets need shape "
                       r"\(64,\).*have shape \(64, 40\); for one class per token.*\(batch, maxlen, "
                       r"classes\)"):
        model.fit(x, np.zeros((64, 40), np.int64), batch_size=64, verbose=0)
    with pytest.raises(UserError, match=r"have shape \(64, 5\); these look one-hot: use "
                       "categorical_crossentropy"):
        model.evaluate(x, np.zeros((64, 5), np.int64), batch_size=64)
    with pytest.raises(UserError, match=r"sample_weight has shape \(64, 3\), but the loss has "
                       r"values of shape \(64,\)"):
        model.evaluate(x, np.zeros(64, np.int64), sample_weight=np.ones((64, 3)), batch_size=64)
    with pytest.raises(UserError, match=r"sample_weight has shape \(64, 64\), but the loss has "
                       r"values of shape \(64,\)"):  # never broadcast silently, even when square
        model.test_on_batch(x, np.zeros(64, np.int64), sample_weight=np.ones((64, 64)),
                            class_weight={0: 2.0})
