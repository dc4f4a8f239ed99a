"""Save a model as a directory of JSON and tensors, and load it back: no pickle.

A saved model is a directory:

- `weights.pt`: the module's `state_dict` (CPU tensors), read back with
  `torch.load(..., weights_only=True)`;
- `model.json`: the loss, optimizer and metric names (when they were given as
  names; callables are not saved), the seed, and the module's class name,
  with its `get_config()` when the class is registered with
  `streamfit.register_module` (`streamfit.models.registry`).

The optimizer's state is not saved: a loaded model starts a fresh optimizer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from streamfit.errors import UserError
from streamfit.files import write_atomic
from streamfit.models.registry import module_class, registered_name

if TYPE_CHECKING:
    from streamfit.training.model import Model

FORMAT = "streamfit.model"
VERSION = 1
WEIGHTS = "weights.pt"
META = "model.json"


def _module_meta(module: torch.nn.Module) -> dict[str, Any]:
    name = registered_name(type(module))
    config = None
    if name is not None and hasattr(module, "get_config"):
        config = module.get_config()
        try:
            json.dumps(config)
        except (TypeError, ValueError) as error:
            raise UserError(
                f"{type(module).__name__}.get_config() returned a value JSON cannot hold "
                f"({error}); return only numbers, strings, lists and dicts") from None
    return {"class": type(module).__name__, "registered_name": name, "config": config}


def save_model(model: Model, path: str | os.PathLike) -> None:
    """Write `model` to the directory `path` (created; files in it are replaced).

    Raises:
        UserError: `path` is an existing file, or the module's config is not JSON.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"cannot save the model to {path}: it is a file; give a directory path")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "module": _module_meta(model.module),
        "loss": model.loss.name if model.loss is not None else None,
        "optimizer": model.optimizer_name,
        "metrics": [metric.spec for metric in model.metrics if metric.spec is not None],
        "seed": model.seed,
    }
    path.mkdir(parents=True, exist_ok=True)
    weights = {name: value.detach().cpu() for name, value in model.module.state_dict().items()}
    write_atomic(path / WEIGHTS, lambda target: torch.save(weights, target))
    write_atomic(path / META, lambda file: file.write((json.dumps(meta, indent=2) + "\n").encode()))


def _read_meta(path: Path) -> dict[str, Any]:
    if not (path / META).is_file() or not (path / WEIGHTS).is_file():
        raise UserError(
            f"{path} is not a saved streamfit model (it needs {META} and {WEIGHTS}); "
            "give the directory that Model.save wrote")
    try:
        meta = json.loads((path / META).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path / META} is not valid JSON ({error}); save the model again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path / META} is not a streamfit model description; give the directory that Model.save wrote")
    if meta.get("version") != VERSION:
        raise UserError(
            f"{path / META} has format version {meta.get('version')}; this streamfit reads "
            f"version {VERSION}, so upgrade streamfit")
    return meta


def _rebuild(path: Path, info: dict[str, Any]) -> torch.nn.Module:
    cls = module_class(info["registered_name"]) if info.get("registered_name") else None
    if cls is None or info.get("config") is None:
        raise UserError(
            f"{path} holds weights of {info['class']}, which load_model cannot rebuild (its "
            "class is not registered with streamfit.register_module or has "
            f"no get_config); pass load_model({str(path)!r}, module={info['class']}(...))")
    config = info["config"]
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)


def read_model(path: str | os.PathLike,
               module: torch.nn.Module | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Read a directory that `save_model` wrote.

    Args:
        path: the directory.
        module: a module built like the saved one, to load the weights into;
            None rebuilds it from the registered class and saved config.

    Returns:
        The module holding the saved weights, and the saved description
        (`loss`, `optimizer`, `metrics`, `seed`).

    Raises:
        UserError: `path` is not a saved model, the module cannot be rebuilt
            (pass `module=`), or the weights do not fit `module`.
    """
    path = Path(path)
    meta = _read_meta(path)
    info = meta["module"]
    if module is None:
        module = _rebuild(path, info)
    weights = torch.load(path / WEIGHTS, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise UserError(
            f"the weights in {path} do not fit {type(module).__name__} ({first}); pass a "
            f"module built like the saved {info['class']}") from None
    return module, meta
