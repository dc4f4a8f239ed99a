"""TorchBatches under a real PyTorch Lightning `Trainer.fit` (skipped without lightning)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamfit.batches import ArrayBatches
from streamfit.interop.torch_data import TorchBatches

lightning = pytest.importorskip("lightning", reason="lightning is not installed")

ROWS, BATCH, EPOCHS = 45, 10, 3
LOADERS = {"workers0": {"num_workers": 0},
           "workers2": {"num_workers": 2, "persistent_workers": False},
           "workers2_persistent": {"num_workers": 2, "persistent_workers": True}}


class RecordRows(lightning.LightningModule):
    """A one-weight model that records the rows of every training batch, per loader and epoch."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[str, dict[int, list[int]]] = {name: {} for name in LOADERS}

    def training_step(self, batch, batch_idx):
        loss = 0.0
        for name, (x, y) in batch.items():
            self.seen[name].setdefault(self.current_epoch, []).extend(x.tolist())
            loss = loss + ((self.weight * x.float() - y.float()) ** 2).mean()
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-4)


def batch_set(seed: int = 7) -> ArrayBatches:
    return ArrayBatches(np.arange(ROWS), np.arange(ROWS) % 2, batch_size=BATCH, seed=seed)


def test_trainer_fit_reshuffles_every_epoch_with_any_workers():
    # One Trainer run for all three loaders: Lightning zips a dict of loaders
    # of equal length, one pass of each per epoch.
    loaders = {name: TorchBatches(batch_set()).loader(**args) for name, args in LOADERS.items()}
    module = RecordRows()
    trainer = lightning.Trainer(accelerator="cpu", devices=1, max_epochs=EPOCHS,
                                enable_progress_bar=False, logger=False,
                                enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=loaders)

    expected = [np.concatenate([batch_set().batch(epoch, i)[0] for i in range(5)]).tolist()
                for epoch in range(EPOCHS)]
    assert len({tuple(rows) for rows in expected}) == EPOCHS
    for name in LOADERS:
        seen = module.seen[name]
        assert sorted(seen) == list(range(EPOCHS))
        for epoch in range(EPOCHS):
            assert sorted(seen[epoch]) == list(range(ROWS)), (name, epoch)
            # The same seed gives the same order for every kind of loader.
            assert seen[epoch] == expected[epoch], (name, epoch)
    other_seed = np.concatenate([batch_set(seed=8).batch(0, i)[0] for i in range(5)]).tolist()
    assert other_seed != expected[0]
