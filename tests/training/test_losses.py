"""Loss names: per-sample values equal torch's, targets in the shapes users give."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from streamfit.errors import OptionError, UserError
from streamfit.training.losses import BINARY, MULTICLASS, REGRESSION, get_loss

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
CLASSES = torch.tensor([0, 2, 1, 1])


def test_sparse_categorical_matches_cross_entropy_per_sample():
    loss = get_loss("sparse_categorical_crossentropy")
    expected = F.cross_entropy(LOGITS, CLASSES, reduction="none")
    torch.testing.assert_close(loss.fn(LOGITS, CLASSES), expected)
    torch.testing.assert_close(loss.fn(LOGITS, CLASSES[:, None].float()), expected)
    assert loss.kind == MULTICLASS
    torch.testing.assert_close(loss.probabilities(LOGITS), torch.softmax(LOGITS, dim=1))


def test_categorical_takes_one_hot_targets():
    one_hot = F.one_hot(CLASSES, 3)
    torch.testing.assert_close(get_loss("categorical_crossentropy").fn(LOGITS, one_hot),
                               F.cross_entropy(LOGITS, CLASSES, reduction="none"))


def test_binary_applies_the_sigmoid_and_takes_flat_targets():
    logits = torch.tensor([[1.5], [-0.3], [0.0]])
    target = torch.tensor([1, 0, 1])
    loss = get_loss("binary_crossentropy")
    expected = F.binary_cross_entropy(torch.sigmoid(logits[:, 0]), target.float(), reduction="none")
    torch.testing.assert_close(loss.fn(logits, target), expected)
    assert loss.kind == BINARY
    torch.testing.assert_close(loss.probabilities(logits), torch.sigmoid(logits))


def test_mse_averages_each_row():
    output = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    loss = get_loss("mse")
    torch.testing.assert_close(loss.fn(output, torch.zeros(2, 2)), torch.tensor([2.5, 0.0]))
    assert loss.kind == REGRESSION and loss.probabilities(output) is output


def test_torch_loss_modules_are_copied_with_reduction_none():
    module = torch.nn.CrossEntropyLoss()
    loss = get_loss(module)
    assert module.reduction == "mean" and loss.fn.reduction == "none"
    assert loss.name is None and loss.kind is None
    assert loss.fn(LOGITS, CLASSES).shape == (4,)


def test_unknown_losses_are_user_errors():
    with pytest.raises(OptionError, match="loss='hinge' is not a known loss; use one of"):
        get_loss("hinge")
    with pytest.raises(UserError, match="neither a loss name nor a callable"):
        get_loss(3)
    assert get_loss(None) is None
