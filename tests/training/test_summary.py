"""Model.summary(): Keras 3's table of layers, output shapes and parameter counts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from streamfit.errors import OptionError
from streamfit.models.mlp import NgramMLP
from streamfit.training import Model
from streamfit.training.summary import table

GUIDE_MLP_UNFITTED = '''Model: "NgramMLP"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ input_layer (SparseLinear)      │ ?                      │     1,280,064 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ head.0 (ReLU)                   │ ?                      │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ head.1 (Dropout)                │ ?                      │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ head.2 (Linear)                 │ ?                      │            65 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 1,280,129 (4.88 MB)
 Trainable params: 1,280,129 (4.88 MB)
 Non-trainable params: 0 (0.00 B)
'''


def _guide_mlp() -> Model:
    torch.manual_seed(0)
    # The guide's MLP on its top 20,000 n-gram features, 2 classes: one sigmoid unit.
    return Model(NgramMLP(20000, 2), loss="binary_crossentropy", seed=0)


def test_before_any_batch_the_shapes_are_unknown_and_the_counts_exact(capsys):
    _guide_mlp().summary(line_length=76)
    assert capsys.readouterr().out == GUIDE_MLP_UNFITTED


def test_the_first_batch_records_the_output_shapes():
    model = _guide_mlp()
    x = sp.random(40, 20000, density=0.001, format="csr", dtype=np.float32, random_state=0)
    model.fit(x, np.arange(40) % 2, batch_size=16, verbose=0)
    lines = []
    model.summary(line_length=76, print_fn=lines.append)
    assert len(lines) == 1  # the whole text at once, as Keras 3 calls print_fn
    rows = [line for line in lines[0].splitlines() if line.startswith("│")]
    assert [row.split("│")[2].strip() for row in rows] == ["(None, 64)"] * 3 + ["(None, 1)"]


def test_a_sample_records_shapes_and_frozen_weights_and_buffers_are_non_trainable():
    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(100, 8)
            self.norm = torch.nn.BatchNorm1d(40)
            self.lstm = torch.nn.LSTM(8, 6, batch_first=True)
            self.out = torch.nn.Linear(6, 5)
            self.embedding.weight.requires_grad_(False)

        def forward(self, tokens):
            hidden, _ = self.lstm(self.norm(self.embedding(tokens)))
            return self.out(hidden)

    model = Model(Tagger(), loss="sparse_categorical_crossentropy", seed=0)
    lines = []
    model.summary(x={"tokens": np.zeros((3, 40), np.int64)}, print_fn=lines.append,
                  line_length=140)
    text = lines[0]
    # Only a leading batch dimension reads None: the LSTM's states carry it second.
    assert "│ lstm (LSTM) " in text and "│ [(None, 40, 6), [(1, 3, 6), (1, 3, 6)]] " in text
    assert "│ out (Linear) " in text and "(None, 40, 5)" in text
    lstm = 4 * 6 * (8 + 6) + 2 * 4 * 6
    trainable = lstm + 2 * 40 + 6 * 5 + 5
    frozen = 100 * 8 + 2 * 40  # the embedding and BatchNorm's running mean and variance
    assert f" Trainable params: {trainable:,} (" in text
    assert f" Non-trainable params: {frozen:,} (" in text
    assert f" Total params: {trainable + frozen:,} (" in text
    with pytest.raises(OptionError, match="^line_length=8 is too narrow"):
        model.summary(line_length=8)


@pytest.fixture(scope="module")
def keras(keras):
    pytest.importorskip("rich")  # Keras prints its summary with rich
    return keras


# Up to 80: Keras' rich console is as wide as the terminal (80 here) and clips wider tables.
@pytest.mark.parametrize("line_length", [50, 61, 76, 80])
def test_the_table_is_keras_3s(keras, line_length):
    # The guide's mlp_model in Keras, and the same rows through streamfit's table.
    guide = keras.Sequential([
        keras.Input((20000,)), keras.layers.Dropout(0.2), keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.2), keras.layers.Dense(1, activation="sigmoid")], name="guide")
    printed = []
    guide.summary(line_length=line_length, print_fn=printed.append)
    rows = [(f"{layer.name} ({type(layer).__name__})",
             f"(None, {layer.output.shape[-1]})", f"{layer.count_params():,}")
            for layer in guide.layers]
    ours = []
    _guide_mlp().summary(line_length=line_length, print_fn=ours.append)
    totals = ours[0].splitlines()[-3:]
    assert table('Model: "guide"', rows, totals, line_length) == printed[0]
