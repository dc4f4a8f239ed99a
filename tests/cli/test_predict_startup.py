"""`streamfit predict` and `evaluate` on an mlp or fasttext bundle never import torch (about 2 s to import)."""

import json
import shutil
import subprocess
import sys

import pytest

from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.sources import SourceSpec

#: Run in a fresh interpreter: the command, then which of the heavy modules it loaded.
CODE = """
import json, sys
from streamfit.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": [m for m in ("torch", "onnx", "onnxruntime") if m in sys.modules]}))
"""


def run(*args):
    done = subprocess.run([sys.executable, "-c", CODE, *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    *output, status = done.stdout.splitlines()
    return json.loads(status), output


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, write_corpus):
    """Trained mlp and fasttext bundles (three labels), and the mlp read as a multi-label bundle."""
    tmp = tmp_path_factory.mktemp("startup")
    data = write_corpus(tmp / "train.csv", 300, labels=("a", "b", "pos"))
    made = {}
    for kind in ("mlp", "fasttext"):
        config = TrainConfig(output=str(tmp / kind), model_kind=kind, epochs=2, batch_size=32,
                             cache=str(tmp / "cache"), verbose=0)
        made[kind] = train_text_classifier(SourceSpec((str(data),)), config, log=lambda line: None).bundle
    multi = shutil.copytree(made["mlp"], tmp / "multi")
    meta = json.loads((multi / "bundle.json").read_text())
    meta.update(multi_label=True, threshold=0.3)
    meta["model"]["config"]["multi_label"] = True
    (multi / "bundle.json").write_text(json.dumps(meta))
    made["multi"] = multi
    (tmp / "one_line.txt").write_text("a great and wonderful film\n")
    return made, tmp / "one_line.txt", data


@pytest.mark.parametrize("kind", ["mlp", "fasttext", "multi"])
def test_predict_on_one_line_does_not_import_torch(bundles, kind):
    made, one_line, _ = bundles
    status, output = run("predict", made[kind], one_line)
    assert status == {"code": 0, "loaded": []}
    bundle = load_bundle(made[kind])
    [[(label, probability), *_]] = bundle.predict(["a great and wonderful film"])
    header, row = output
    if kind == "multi":
        assert header == '"row","file","line","labels","skipped"'
    else:
        assert header == '"row","file","line","label","probability","skipped"'
        assert row.split(",")[3:5] == [f'"{label}"', f"{round(probability, 6):g}"]


@pytest.mark.parametrize("kind", ["mlp", "fasttext"])
def test_evaluate_does_not_import_torch(bundles, kind):
    made, _, data = bundles
    status, output = run("evaluate", made[kind], data, "--json")
    assert status == {"code": 0, "loaded": []}
    assert json.loads(output[0])["samples"] == 300


def test_the_cuda_device_still_runs_the_torch_module(bundles):
    import torch

    made, one_line, _ = bundles
    status, _ = run("predict", made["mlp"], one_line, "--device", "cuda")
    assert status["loaded"] == ["torch"]
    assert (status["code"] == 0) == torch.cuda.is_available()  # no GPU: the one-line device error
