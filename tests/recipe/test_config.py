"""TrainConfig: one checked option list, the resume fingerprint, and no torch."""

import subprocess
import sys

import pytest

from streamfit.errors import OptionError
from streamfit.recipe.config import TrainConfig, label_sources, option_fields
from streamfit.sources import SourceSpec


@pytest.mark.parametrize("options, message", [
    ({"dropout": 1.5}, "dropout=1.5 must be a number in [0, 1)"),
    ({"batch_size": 0}, "batch_size=0 must be an integer >= 1"),
    ({"epochs": 2.5}, "epochs=2.5 must be an integer >= 1"),
    ({"validation_split": 1.5}, "validation_split=1.5 must be a number in [0, 1)"),
    ({"threads": 0}, "threads=0 must be an integer >= 1 or None"),
    ({"model_kind": "bert"}, "model_kind='bert' must be one of 'auto', 'mlp', 'sepcnn', 'fasttext'"),
    ({"class_weight": "even"}, "class_weight='even' must be one of 'balanced' or None"),
    ({"verbose": 3}, "verbose=3 must be one of 0, 1, 2"),
    ({"ngram_range": (2, 1)}, "ngram_range=(2, 1) must be a pair (min_n, max_n) with 1 <= min_n <= max_n"),
    ({"label_sep": ";"}, "label_sep=';' splits a row's labels, which needs multi_label (--multi-label); "
                         "add it, or drop the separator"),
    ({"threshold_per_label": True}, "threshold_per_label=True tunes the thresholds of a multi-label "
                                    "model, which needs multi_label (--multi-label); add it, or drop "
                                    "the option"),
])
def test_a_bad_value_is_an_option_error_naming_the_argument(options, message):
    with pytest.raises(OptionError) as raised:
        TrainConfig(output="m", **options)
    assert str(raised.value) == message
    assert raised.value.option == next(iter(options))


def test_the_defaults_and_none_where_allowed_pass():
    config = TrainConfig(output="m", class_weight=None, threads=None, checkpoint_every_steps=None)
    assert (config.batch_size, config.ngram_range, config.model_kind) == (512, (1, 2), "auto")


def test_the_fingerprint_holds_the_options_that_change_the_weights():
    fingerprint = TrainConfig(output="m", dropout=0.5).fingerprint()
    assert fingerprint["dropout"] == 0.5
    assert sorted(fingerprint) == [
        "batch_size", "class_weight", "dropout", "label_sep", "layers", "learning_rate", "model_kind",
        "multi_label", "ngram_range", "patience", "seed", "threads", "top_k", "units",
        "validation_split"]
    # The thresholds are tuned after training, on the trained weights: resuming may choose anew.
    assert "threshold_per_label" not in TrainConfig(output="m", multi_label=True,
                                                    threshold_per_label=True).fingerprint()


def test_the_label_options_reach_both_sources():
    spec, validation = SourceSpec(("a.csv",)), SourceSpec(("b.ft",))
    config = TrainConfig(output="m", multi_label=True, label_sep=";")
    labelled, labelled_validation = label_sources(spec, config, validation)
    assert (labelled.multi_label, labelled.label_sep) == (True, ";")
    assert (labelled_validation.multi_label, labelled_validation.label_sep) == (True, ";")
    assert label_sources(spec, TrainConfig(output="m")) == (spec, None)
    # Data that says it is multi-label is, and so is its validation data.
    multi = SourceSpec(("a.csv",), multi_label=True, label_sep="|")
    assert label_sources(multi, TrainConfig(output="m"), validation) == (
        multi, SourceSpec(("b.ft",), multi_label=True))
    with pytest.raises(OptionError) as raised:
        label_sources(multi, config)
    assert str(raised.value) == ("label_sep=';' differs from the data's own label_sep='|'; give the "
                                 "separator once")


def test_every_field_has_help_and_its_own_flag():
    flags = [about.flag_for(field.name) for field, about in option_fields()]
    assert len(set(flags)) == len(flags)
    assert all(about.help for _, about in option_fields())


def test_the_config_and_the_package_exports_import_no_torch():
    probe = ("import sys; from streamfit.recipe import TrainConfig, start_prepare; "
             "TrainConfig(output='m'); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_package_exports_the_training_step_on_first_use():
    import streamfit.recipe
    from streamfit.recipe.train import train_text_classifier

    assert streamfit.recipe.train_text_classifier is train_text_classifier
    with pytest.raises(AttributeError, match="no attribute 'fit'"):
        streamfit.recipe.fit  # noqa: B018 (the lookup is the test)
