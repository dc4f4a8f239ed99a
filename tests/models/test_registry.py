import subprocess
import sys
import textwrap

import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.models import FastTextModel, NgramMLP, SepCNN, build_model
from streamfit.models.registry import MODEL_KINDS, module_class, register_module, registered_name


def test_one_registry_holds_the_model_kinds_and_the_saved_names():
    assert dict(MODEL_KINDS) == {"mlp": NgramMLP, "sepcnn": SepCNN, "fasttext": FastTextModel}
    for cls in MODEL_KINDS.values():  # model.json holds the class name, as before
        assert registered_name(cls) == cls.__name__ and module_class(cls.__name__) is cls
    with pytest.raises(TypeError):
        MODEL_KINDS["other"] = NgramMLP


def test_a_kind_held_by_another_class_is_refused():
    class Other(torch.nn.Module):
        pass

    with pytest.raises(UserError, match="'mlp' is already .*NgramMLP; register .*Other with another kind="):
        register_module(Other, name="other-kind-test", kind="mlp")
    assert module_class("other-kind-test") is None and MODEL_KINDS["mlp"] is NgramMLP


def test_a_built_in_model_loads_back_without_importing_streamfit_models(tmp_path):
    import streamfit

    streamfit.Model(build_model("mlp", num_features=5, num_classes=3)).save(tmp_path / "m")
    # A fresh process that imports only the training layer rebuilds it from the registry.
    code = textwrap.dedent(f"""
        import streamfit
        model = streamfit.load_model({str(tmp_path / "m")!r})
        print(type(model.module).__name__)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "NgramMLP"


@pytest.mark.parametrize("kind, option, value", [
    ("mlp", "units", 0), ("mlp", "layers", 0), ("mlp", "dropout", 1.5), ("mlp", "num_features", 0),
    ("sepcnn", "kernel_size", 0), ("sepcnn", "blocks", 0), ("fasttext", "dim", 0),
])
def test_a_bad_model_argument_is_named(kind, option, value):
    sizes = {"num_words": 20} if kind == "sepcnn" else {"num_features": 20}
    with pytest.raises(OptionError) as error:
        build_model(kind, num_classes=3, **{**sizes, option: value})
    assert (error.value.option, error.value.value) == (option, value)


def test_the_torch_free_option_list_names_every_registered_kind():
    from streamfit.recipe.config import MODEL_KINDS as OPTION_KINDS

    assert ("auto", *MODEL_KINDS) == OPTION_KINDS
