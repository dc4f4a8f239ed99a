"""A multi-label bundle: its multi_label and thresholds saved, checked and loaded; sigmoid
probabilities; and bundles written before multi-label models still load as single-label."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pyarrow as pa
import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.recipe.bundle import save_bundle
from streamfit.sources import SourceSpec

TEXTS = pa.array(["goal team song", "pizza cheese", "the of a", ""])
#: Five topics and their cue words (tests/recipe/test_multilabel_train.py has a fuller corpus).
CUES = {"sport": "goal team", "music": "song band", "food": "pizza cheese", "tech": "code chip",
        "travel": "hotel beach"}


def write_topics(path, rows: int):
    """A fastText file: 1 to 3 topics per row, each topic's cue words among filler."""
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(rows):
            chosen = rng.sample(sorted(CUES), rng.randint(1, 3))
            f.write(" ".join(f"__label__{t}" for t in chosen) + " the of a "
                    + " ".join(CUES[t] for t in chosen) + "\n")
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory, write_corpus):
    """A tiny multi-label mlp bundle and a single-label one, written once for the module."""
    tmp = tmp_path_factory.mktemp("made")
    options = dict(model_kind="mlp", epochs=2, batch_size=32, verbose=0)
    train_text_classifier(SourceSpec((str(write_topics(tmp / "topics.ft", 300)),)),
                          TrainConfig(output=str(tmp / "multi"), cache=str(tmp / "c1"),
                                      multi_label=True, **options), log=lambda line: None)
    train_text_classifier(SourceSpec((str(write_corpus(tmp / "train.csv", 200)),)),
                          TrainConfig(output=str(tmp / "single"), cache=str(tmp / "c2"), **options),
                          log=lambda line: None)
    return tmp


@pytest.fixture
def bundle(made, tmp_path):
    """A copy of the multi-label bundle, to tamper with."""
    return shutil.copytree(made / "multi", tmp_path / "b")


def edit(bundle, change):
    meta = json.loads((bundle / "bundle.json").read_text())
    change(meta)
    (bundle / "bundle.json").write_text(json.dumps(meta))


def refused(bundle, *parts):
    with pytest.raises(UserError) as raised:
        load_bundle(bundle)
    message = str(raised.value)
    assert "\n" not in message and "damaged or was tampered with" in message
    for part in parts:
        assert part in message, message
    return message


def test_probabilities_are_each_label_s_sigmoid(made):
    bundle = load_bundle(made / "multi")
    probabilities = bundle.predict_proba(TEXTS)
    with torch.no_grad():
        logits = bundle.module(torch.as_tensor(bundle.featurize(TEXTS).toarray())).numpy()
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    assert probabilities.shape == (4, 5) and not np.allclose(probabilities.sum(axis=1), 1)
    assert bundle.multi_label and bundle.thresholds.dtype == np.float64
    assert bundle.thresholds.shape == (5,) and len(set(bundle.thresholds.tolist())) == 1


def test_a_single_label_bundle_keeps_today_s_fields_and_loads_as_single_label(made):
    meta = json.loads((made / "single" / "bundle.json").read_text())
    assert not {"multi_label", "threshold", "thresholds"} & set(meta)
    assert not {"multi_label", "label_sep"} & set(meta["source"])
    bundle = load_bundle(made / "single")
    assert bundle.multi_label is False and bundle.thresholds is None
    np.testing.assert_allclose(bundle.predict_proba(TEXTS).sum(axis=1), 1, rtol=1e-6)


def test_a_bundle_written_before_multi_label_models_loads_as_single_label(made, tmp_path):
    old = shutil.copytree(made / "single", tmp_path / "old")
    edit(old, lambda meta: meta["model"]["config"].pop("multi_label"))  # as older streamfit wrote it
    bundle = load_bundle(old)
    assert bundle.multi_label is False and bundle.thresholds is None
    assert bundle.module.num_outputs == 1


def test_the_source_options_keep_the_label_reading(made):
    source = json.loads((made / "multi" / "bundle.json").read_text())["source"]
    assert (source["multi_label"], source["label_sep"]) == (True, None)
    spec = load_bundle(made / "multi").source_spec(["new.ft"])
    assert spec.multi_label and spec.label_sep is None


@pytest.mark.parametrize("change, parts", [
    (lambda m: m.update(multi_label="yes"), ["the field 'multi_label' is 'yes', not true or false"]),
    (lambda m: m.pop("threshold"), ["holds one of the fields 'threshold' and 'thresholds'",
                                    "this one holds neither"]),
    (lambda m: m.update(thresholds=[0.5] * 5), ["this one holds ['threshold', 'thresholds']"]),
    (lambda m: m.update(threshold=1.5), ["the field 'threshold' must be a number in [0, 1]"]),
    (lambda m: m.update(threshold=True), ["the field 'threshold' must be a number in [0, 1]"]),
    (lambda m: (m.pop("threshold"), m.update(thresholds=[0.5] * 4)),
     ["the field 'thresholds' must be a list of 5 numbers (one per label) in [0, 1]"]),
    (lambda m: m.update(multi_label=False),
     ["the field 'threshold' belongs to a multi-label bundle, and 'multi_label' is not true"]),
    (lambda m: (m.pop("multi_label"), m.pop("threshold")),
     ["model.config.multi_label=True does not match the bundle's multi_label=False"]),
])
def test_a_tampered_multi_label_field_is_one_line_naming_it(bundle, change, parts):
    edit(bundle, change)
    refused(bundle, "bundle.json", *parts)


def test_per_label_thresholds_load_as_they_were_saved(bundle):
    edit(bundle, lambda m: (m.pop("threshold"), m.update(thresholds=[0.1, 0.2, 0.3, 0.4, 1])))
    np.testing.assert_array_equal(load_bundle(bundle).thresholds, [0.1, 0.2, 0.3, 0.4, 1.0])


@pytest.mark.parametrize("multi_label, thresholds, message", [
    (False, 0.5, "thresholds=0.5 are a multi-label bundle's; give multi_label=True, or no thresholds"),
    (True, None, "thresholds=None must be one number in [0, 1], or a list of 5 (one per label)"),
    (True, [0.5, 0.5], "thresholds=[0.5, 0.5] must be one number in [0, 1], or a list of 5"),
    (True, 2.0, "thresholds=2.0 must be one number in [0, 1]"),
])
def test_save_bundle_refuses_thresholds_that_do_not_fit(made, tmp_path, multi_label, thresholds,
                                                        message):
    bundle = load_bundle(made / "multi")
    with pytest.raises(OptionError) as raised:
        save_bundle(tmp_path / "again", tokenizer=bundle.tokenizer, vocabulary=bundle.vocabulary,
                    extractor=bundle.extractor, module=bundle.module, model_kind=bundle.model_kind,
                    labels=bundle.labels, source=bundle.source, info={}, multi_label=multi_label,
                    thresholds=thresholds)
    assert str(raised.value).startswith(message)
    assert not (tmp_path / "again").exists()
