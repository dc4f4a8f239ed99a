import pytest

from streamfit.errors import UserError
from streamfit.models import choose_model


def test_choose_model_follows_the_guide_rule():
    assert choose_model(25000, 174) == "mlp"  # IMDB: ratio 144
    assert choose_model(1499, 1) == "mlp"
    assert choose_model(1500, 1) == "sepcnn"
    assert choose_model(3_600_000, 80) == "sepcnn"
    assert choose_model(10, 0) == "mlp"
    with pytest.raises(UserError, match="no training rows"):
        choose_model(0, 10)
