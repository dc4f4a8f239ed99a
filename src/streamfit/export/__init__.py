"""Export a bundle's model for other runtimes: ONNX or TorchScript, with its featurizing spec.

`export_bundle(bundle_dir, output, format)` writes the directory `output`:

| file | what |
| --- | --- |
| `model.onnx` (`format="onnx"`) | the model as an ONNX graph (`export.onnx_graph`), checked by `onnx.checker` |
| `model.pt` (`format="torchscript"`) | a `torch.jit.script` module (`export.torchscript`), for `torch.jit.load` |
| `featurize.json` | raw text to model input, as data and in words (`export.spec`) |
| `reference.json` | a few texts, their tokens, word ids, model input and the bundle's probabilities |

The bag models (mlp, fasttext) take `ids`, `offsets` and `weights` (CSR),
sepCNN its padded word ids; every model gives the bundle's own
probabilities (softmax, or one sigmoid per label for a multi-label bundle).
The directory is written aside and renamed into place
(`streamfit.workspace`); it replaces only an export streamfit wrote (its
`featurize.json`'s `format`, and nothing else in the folder but an export's
files), never anything else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from streamfit.errors import OptionError, UserError
from streamfit.export.network import (
    BAG_KINDS,
    EXPORT_KINDS,
    BagNet,
    SepCNNNet,
    bag_net,
    output_activation,
)
from streamfit.export.spec import EXPORT_FORMAT, featurize_spec, reference_texts, reference_vectors
from streamfit.files import check_writable_parent, is_disk_full, open_regular, write_atomic
from streamfit.workspace import Workspace, sweep_stale

#: The export formats and the model file each writes.
FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
#: Every file an export directory holds.
EXPORT_FILES = (*FORMATS.values(), "featurize.json", "reference.json")
_INSTALL_EXPORT = "pip install 'streamfit[export]'"


def export_bundle(bundle_dir: str | Path, output: str | Path, format: str = "onnx") -> Path:
    """Write the model of the bundle in `bundle_dir` to the directory `output` (see the module doc).

    Args:
        bundle_dir: a bundle (`streamfit train`'s output).
        output: the export directory: new, empty, or an earlier export (replaced).
        format: "onnx" or "torchscript".

    Returns:
        `output`.

    Raises:
        OptionError: an unknown format, an `output` streamfit may not write
            (see `check_export_dir`), or a model kind that does not export.
        UserError: the bundle does not load, the onnx package is missing
            (`pip install 'streamfit[export]'`), or the write fails.
    """
    if format not in FORMATS:
        raise OptionError("format", format, f"is unknown; use one of {', '.join(FORMATS)}")
    if format == "onnx":
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise UserError(f"exporting to ONNX needs the onnx package; install it with "
                            f"{_INSTALL_EXPORT}") from None
    output = Path(output)
    output = output.resolve() if output.is_symlink() else output
    check_export_dir(output)
    from streamfit.recipe.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
    kind = bundle.model_kind
    if kind not in EXPORT_KINDS:
        raise OptionError("bundle", str(bundle_dir), f"holds a {kind} model; the kinds that "
                          f"export are {', '.join(EXPORT_KINDS)}")
    net = _network(bundle)
    doc = f"streamfit {kind} model, labels {', '.join(bundle.labels.names)}"
    if format == "onnx":
        from streamfit.export import onnx_graph

        model = onnx_graph.bag_model(net, doc) if kind in BAG_KINDS else onnx_graph.sepcnn_model(net, doc)
        content = model.SerializeToString()

        def write_model(file):
            file.write(content)
    else:
        from streamfit.export import torchscript

        module = (torchscript.BagClassifier(net) if kind in BAG_KINDS
                  else torchscript.SequenceClassifier(bundle.module, net.output))
        scripted = torchscript.script(module)

        def write_model(file):
            torchscript.save(scripted, file)
    texts = reference_texts(bundle)
    files = {
        "featurize.json": _json(featurize_spec(bundle, FORMATS[format], format, net.output)),
        "reference.json": _json(reference_vectors(bundle, texts)),
    }
    try:
        sweep_stale(output.parent)
        with Workspace(output.parent, output.name) as workspace:
            os.mkdir(workspace.new, 0o700)
            write_atomic(workspace.new / FORMATS[format], write_model)
            for name, text in files.items():
                write_atomic(workspace.new / name, lambda file, text=text: file.write(text))
            workspace.install(output, check_export_dir)
    except OSError as error:
        if is_disk_full(error):
            raise UserError(f"cannot write the export {output}: no space left on the device; free "
                            "space and run again (nothing there was changed)") from None
        raise UserError(f"cannot write the export {output} ({error.strerror or error}); nothing "
                        "there was changed") from None
    return output


def _json(data) -> bytes:
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode()


def _network(bundle) -> BagNet | SepCNNNet:
    """The bundle's model as arrays (`export.network`), from its numpy weights (no torch)."""
    weights = {key: np.asarray(value) for key, value in bundle.weights.items()}
    multi_label = bool(bundle.multi_label)
    if bundle.model_kind in BAG_KINDS:
        return bag_net(bundle.model_kind, weights, multi_label)
    outputs = weights["output.weight"].shape[0]
    return SepCNNNet(weights, dict(bundle.config), int(bundle.extractor.length_),
                     output_activation(multi_label, outputs))


def check_export_dir(directory: Path, option: str = "output") -> str | None:
    """Fail early, with the fix, when an export cannot be written to `directory`.

    The directory may be new, empty, or an export streamfit wrote (its
    featurize.json's `format` is streamfit's, and it holds only an export's
    files), which is then replaced. Anything else is the user's and is not touched.

    Returns:
        None, or "an earlier export" when one will be replaced.

    Raises:
        OptionError: `directory` is a file, holds anything streamfit did not
            write, or cannot be written.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OptionError(option, str(directory), "is a file; give a directory for the export")
    replaced = None
    if directory.is_dir():
        names = sorted(os.listdir(directory))
        if names:
            if "featurize.json" not in names or not _own_spec(directory / "featurize.json"):
                raise OptionError(option, str(directory), f"exists and is not a streamfit export "
                                  f"(it holds {names[0]!r}); choose an empty or new directory")
            for name in names:
                path = directory / name
                if name not in EXPORT_FILES or path.is_symlink() or not path.is_file():
                    raise OptionError(option, str(directory), f"is a streamfit export but also holds "
                                      f"{name!r}, which streamfit did not write there, so it is not "
                                      "replaced; move that away or choose an empty or new directory")
            replaced = "an earlier export"
    check_writable_parent(directory, option)
    return replaced


def _own_spec(path: Path) -> bool:
    """Whether `path` is a featurize.json streamfit wrote (a regular file saying its format)."""
    try:
        with open_regular(path) as file:
            data = json.loads(file.read(1 << 30))
    except (UserError, OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == EXPORT_FORMAT


__all__ = ["EXPORT_FILES", "EXPORT_KINDS", "FORMATS", "check_export_dir", "export_bundle"]
