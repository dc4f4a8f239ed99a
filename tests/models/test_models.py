import json

import pytest
import torch

from streamfit.errors import OptionError
from streamfit.models import MODEL_KINDS, FastTextModel, NgramMLP, SepCNN, build_model

NUM_FEATURES = 40
LENGTH = 12


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models gain nothing from threads, and on a busy 2-core machine
    # oversubscribed threads make each small op crawl.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sparse_batch(n, generator, num_features=NUM_FEATURES, nnz_per_row=5):
    dense = torch.zeros(n, num_features)
    for r in range(n):
        cols = torch.randperm(num_features, generator=generator)[:nnz_per_row]
        dense[r, cols] = torch.rand(nnz_per_row, generator=generator)
    return dense.to_sparse_csr(), dense


def make(name, num_classes, multi_label=False):
    if name == "sepcnn":
        return SepCNN(num_words=NUM_FEATURES, num_classes=num_classes, embedding_dim=8,
                      filters=4, multi_label=multi_label)
    if name == "mlp":
        return NgramMLP(NUM_FEATURES, num_classes, units=8, multi_label=multi_label)
    return FastTextModel(NUM_FEATURES, num_classes, dim=6, multi_label=multi_label)


def inputs(name, n, generator):
    if name == "sepcnn":
        return torch.randint(0, NUM_FEATURES, (n, LENGTH), generator=generator)
    return sparse_batch(n, generator)[0]


@pytest.mark.parametrize("name", list(MODEL_KINDS))
@pytest.mark.parametrize("num_classes,outputs", [(2, 1), (5, 5)])
@pytest.mark.parametrize("n", [3, 1])
def test_forward_shapes(name, num_classes, outputs, n):
    model = make(name, num_classes)
    generator = torch.Generator().manual_seed(0)
    for training in (True, False):
        model.train(training)
        out = model(inputs(name, n, generator))
        assert out.shape == (n, outputs) and out.dtype == torch.float32
    assert model.num_outputs == outputs


@pytest.mark.parametrize("name", list(MODEL_KINDS))
@pytest.mark.parametrize("num_classes", [2, 4])
def test_a_few_steps_reduce_the_loss(name, num_classes):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = make(name, num_classes)
    # Learnable: the class is a function of the input.
    if name == "sepcnn":
        y = torch.randint(0, num_classes, (32,), generator=generator)
        x = 2 + 8 * y[:, None] + torch.randint(0, 8, (32, LENGTH), generator=generator)
    else:
        x = inputs(name, 32, generator)
        y = x.to_dense()[:, :num_classes].argmax(dim=1)
    if num_classes == 2:
        loss_fn = torch.nn.BCEWithLogitsLoss()
        target = y.float().unsqueeze(1)
    else:
        loss_fn = torch.nn.CrossEntropyLoss()
        target = y
    losses = train(model, loss_fn, x, target, steps=50, lr=0.01)
    assert losses[-1] < 0.7 * losses[0]


def train(model, loss_fn, x, target, steps, lr):
    """`steps` Adam steps on one batch; the loss before each."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", list(MODEL_KINDS))
@pytest.mark.parametrize("num_labels", [2, 5])
def test_a_multi_label_model_has_one_logit_per_label_even_for_two(name, num_labels):
    model = make(name, num_labels, multi_label=True)
    out = model(inputs(name, 3, torch.Generator().manual_seed(0)))
    assert out.shape == (3, num_labels) and model.num_outputs == num_labels
    assert model.get_config()["multi_label"] is True
    assert make(name, num_labels).get_config()["multi_label"] is False


@pytest.mark.parametrize("name", list(MODEL_KINDS))
def test_a_multi_label_model_learns_label_sets_with_binary_cross_entropy(name):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    num_labels = 3
    # Each label is present or not on its own: several, one or none per row.
    if name == "sepcnn":
        target = torch.randint(0, 2, (32, num_labels), generator=generator).float()
        words = torch.randint(1, 8, (32, LENGTH), generator=generator)
        x = torch.where(torch.rand(32, LENGTH, generator=generator) < 0.5, words, 0)
        for label in range(num_labels):  # label l's cue word is 10 + l, at positions 4l .. 4l+3
            cue = slice(4 * label, 4 * label + 4)
            x[:, cue] = torch.where(target[:, label:label + 1] > 0, 10 + label, x[:, cue])
    else:
        x = inputs(name, 32, generator)
        target = (x.to_dense()[:, :num_labels] > 0).float()
    model = make(name, num_labels, multi_label=True)
    losses = train(model, torch.nn.BCEWithLogitsLoss(), x, target, steps=60, lr=0.05)
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.no_grad():
        predicted = torch.sigmoid(model(x)) >= 0.5
    assert (predicted == target.bool()).float().mean() > 0.85


@pytest.mark.parametrize("name, model", [
    ("mlp", NgramMLP(NUM_FEATURES, 3, units=8, layers=1, multi_label=True)),
    *((name, make(name, 3, multi_label=True)) for name in MODEL_KINDS)])
def test_output_bias_is_what_every_logit_starts_from(name, model):
    model.eval()
    x = inputs(name, 2, torch.Generator().manual_seed(0))
    before = model(x)
    with torch.no_grad():
        model.output_bias.add_(torch.tensor([1.0, -2.0, 0.5]))
    torch.testing.assert_close(model(x) - before, torch.tensor([[1.0, -2.0, 0.5]] * 2))


def test_multi_label_must_be_a_bool():
    with pytest.raises(OptionError, match=r"^multi_label='yes' must be True or False"):
        build_model("mlp", num_features=3, num_classes=2, multi_label="yes")


@pytest.mark.parametrize("name", list(MODEL_KINDS))
@pytest.mark.parametrize("multi_label", [False, True])
def test_config_round_trip_rebuilds_the_same_model(name, multi_label):
    model = make(name, 3, multi_label=multi_label)
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = build_model(name, **config)
    assert str(rebuilt) == str(model)
    rebuilt.load_state_dict(model.state_dict())
    model.eval()
    rebuilt.eval()
    x = inputs(name, 4, torch.Generator().manual_seed(2))
    assert torch.equal(rebuilt(x), model(x))


def test_build_model_errors():
    with pytest.raises(OptionError, match=r"^model_kind='bert' is unknown; use one of mlp, sepcnn, fasttext"):
        build_model("bert", num_features=3, num_classes=2)
    with pytest.raises(OptionError, match=r"^unit=4 is no argument of the mlp model"):
        build_model("mlp", num_features=3, num_classes=2, unit=4)
    with pytest.raises(OptionError, match=r"^num_classes=1 must be an integer >= 2"):
        build_model("fasttext", num_features=3, num_classes=1)
