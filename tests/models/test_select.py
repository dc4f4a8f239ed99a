import pytest

from streamfit.errors import OptionError
from streamfit.models import choose_model


def test_choose_model_follows_the_guide_rule():
    assert choose_model(25000, 174) == "mlp"  # IMDB: ratio 144
    assert choose_model(1499, 1) == "mlp"
    assert choose_model(1500, 1) == "sepcnn"
    assert choose_model(3_600_000, 80) == "sepcnn"
    assert choose_model(10, 0) == "mlp"
    with pytest.raises(OptionError, match=r"^samples=0 must be an integer >= 1"):
        choose_model(0, 10)


def test_auto_keeps_the_mlp_on_cpu_and_follows_the_guide_on_gpu():
    from streamfit.models import auto_model

    assert auto_model(67349, 6, on_gpu=False) == "mlp"
    assert auto_model(67349, 6, on_gpu=True) == "sepcnn"
    assert auto_model(25000, 174, on_gpu=True) == "mlp"


def test_models_are_registered_so_load_model_rebuilds_them(tmp_path):
    import torch

    from streamfit import Model, load_model
    from streamfit.models import build_model

    module = build_model("mlp", num_features=30, num_classes=3)
    Model(module, loss="sparse_categorical_crossentropy").save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert all(torch.equal(a, b) for a, b in zip(module.state_dict().values(),
                                                  loaded.module.state_dict().values(), strict=True))
