import torch

from streamfit.models import SepCNN


def test_sepcnn_takes_sequences_shorter_than_the_pool():
    model = SepCNN(num_words=10, num_classes=3, embedding_dim=4, filters=2, blocks=3)
    assert model(torch.tensor([[0, 5]])).shape == (1, 3)
