"""`streamfit` on the real corpora in ../shared/datasets (skipped when absent)."""

import json
from pathlib import Path

import pytest

from streamfit.cli.main import main

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def shared(*parts):
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared datasets are not on this machine)")
    return str(path)


@pytest.mark.parametrize("layout", [["--text", "1,2", "--label", "0", "--no-header"], ["--preset", "zhang"]])
def test_ag_news_in_its_original_headerless_layout_trains_and_evaluates(tmp_path, capsys, layout):
    data = shared("ag_news", "test.csv.gz")
    code = main(["train", data, *layout, "--output", str(tmp_path / "m"), "--cache", str(tmp_path / "c"),
                 "--epochs", "3", "--verbose", "0"])
    assert code == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "m"), data, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 7600
    assert report["labels"] == ["1", "2", "3", "4"]
    assert [row["support"] for row in report["per_class"].values()] == [1900] * 4
    assert report["accuracy"] > 0.8  # evaluated on its own training rows: a sanity floor


def test_inspect_imdb_counts_every_row(capsys):
    data = shared("imdb", "test.csv.gz")
    assert main(["inspect", data, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_read"] == report["rows_used"] == 25000
    assert report["classes"] == {"0": 12500, "1": 12500}
    assert 150 < report["median_words_per_sample"] < 200
    assert report["recommended_model"] == "mlp"
