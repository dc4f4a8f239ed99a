"""Save a model as a directory of JSON and tensors, and load it back: no pickle.

A saved model is a directory:

- `weights.pt`: the module's `state_dict` (CPU tensors), read back with
  `torch.load(..., weights_only=True)`;
- `model.json`: the loss, optimizer and metric names (when they were given as
  names or Keras-style classes, whose settings are kept; callables are not saved), the loss's settings (`loss_options`: what
  the module returns, as the first batch settled it or `from_logits=` said,
  `loss_weights` and the loss's own options), the seed, and the module's class name,
  with its `get_config()` when the class is registered with
  `streamfit.register_module` (`streamfit.models.registry`).

The optimizer's state is not saved: a loaded model starts a fresh optimizer.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle  # only for its exception: torch.load(weights_only=True) raises it
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import torch

from streamfit.errors import OptionError, UserError
from streamfit.files import open_regular, write_atomic
from streamfit.models.registry import module_class, registered_name
from streamfit.training.losses import from_saved
from streamfit.training.metrics import from_saved as metric_from_saved

if TYPE_CHECKING:
    from streamfit.training.model import Model

FORMAT = "streamfit.model"
VERSION = 1
WEIGHTS = "weights.pt"
META = "model.json"



def load_weights(file: IO[bytes]) -> dict[str, torch.Tensor]:
    """A state dict of tensors from an open `.pt` file, memory-mapped where the system allows.

    Read with `torch.load(weights_only=True)`: pickled Python objects are refused
    unread. Mapped, its tensors cost no memory until used, so shapes can be
    checked (`check_weights_fit`) before anything is allocated.

    Raises:
        UserError: a file of pickled objects, not a tensor file, truncated, or
            not a flat dict of tensors (the message names no path: the caller's does).
    """
    by_fd = f"/proc/self/fd/{file.fileno()}"
    try:
        if os.path.exists(by_fd):  # the file opened, not whatever its name now points to
            state = torch.load(by_fd, map_location="cpu", weights_only=True, mmap=True)
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError("holds pickled Python objects, not only tensors; it was refused unread") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError, IndexError,
            zipfile.BadZipFile) as error:
        text = str(error).strip()
        raise UserError(f"not a readable tensor file ({text.splitlines()[0] if text else type(error).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(key, str) and isinstance(value, torch.Tensor)
                                              for key, value in state.items()):
        raise UserError("holds no flat dict of named tensors")
    return state


def check_weights_fit(build: Callable[[], torch.nn.Module], weights: dict[str, torch.Tensor],
                      declared_by: str, weights_name: str) -> None:
    """Compare the shapes a module would have with `weights`, allocating nothing.

    `build()` runs on torch's meta device (no memory, no initialisation), so a
    config that declares a huge model costs nothing before it is refused.

    Args:
        build: builds the module as the config declares it.
        weights: the state dict it must load.
        declared_by: what declared the config, for the message ("bundle.json's model.config").
        weights_name: the weights' file, for the message.

    Raises:
        UserError: `declared_by implies input_layer.weight of shape [25000000, 32], weights_name
            holds [2000, 32]`; a tensor missing or extra. OptionError: from `build`.
    """
    try:
        with torch.device("meta"), _no_initialisation():
            expected = {name: tuple(value.shape) for name, value in build().state_dict().items()}
    except UserError:
        raise
    except Exception:  # noqa: BLE001 (a module of the user's that cannot be built on meta: built for real next)
        return
    for name, shape in expected.items():
        if name not in weights:
            raise UserError(f"{declared_by} implies a tensor {name!r}, which {weights_name} lacks")
        if tuple(weights[name].shape) != shape:
            raise UserError(f"{declared_by} implies {name} of shape {list(shape)}, {weights_name} "
                            f"holds {list(weights[name].shape)}")
    extra = [name for name in weights if name not in expected]
    if extra:
        raise UserError(f"{weights_name} holds a tensor {extra[0]!r}, which {declared_by} has no place for")


@contextlib.contextmanager
def _no_initialisation():
    """`torch.nn.init`'s in-place initialisers as no-ops, for building on the meta device.

    On meta tensors they run through torch's Python decompositions, whose
    first use imports torch._dynamo: 2.5 s of every `predict` start here, for
    values that nobody reads.
    """
    names = [name for name in dir(torch.nn.init) if name.endswith("_") and not name.startswith("_")
             and callable(getattr(torch.nn.init, name))]
    saved = {name: getattr(torch.nn.init, name) for name in names}
    try:
        for name in names:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


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
        "loss_options": model.loss.saved() if model.loss is not None and model.loss.name else None,
        "optimizer": model.optimizer_name,
        "metrics": [metric.spec for metric in model.metrics if metric.spec is not None],
        "seed": model.seed,
    }
    path.mkdir(parents=True, exist_ok=True)
    weights = {name: value.detach().cpu() for name, value in model.module.state_dict().items()}
    write_atomic(path / WEIGHTS, lambda target: torch.save(weights, target))
    write_atomic(path / META, lambda file: file.write((json.dumps(meta, indent=2) + "\n").encode()))


def _read_meta(path: Path) -> dict[str, Any]:
    if not (path / META).exists() or not (path / WEIGHTS).exists():
        raise UserError(
            f"{path} is not a saved streamfit model (it needs {META} and {WEIGHTS}); "
            "give the directory that Model.save wrote")
    try:
        with open_regular(path / META) as file:
            meta = json.loads(file.read())
    except UserError as error:
        raise UserError(f"{error}; save the model again") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path / META} is not valid JSON ({error}); save the model again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path / META} is not a streamfit model description; give the directory that Model.save wrote")
    if meta.get("version") != VERSION:
        raise UserError(
            f"{path / META} has format version {meta.get('version')}; this streamfit reads "
            f"version {VERSION}, so upgrade streamfit")
    _check_fields(path / META, meta)
    try:
        meta["metrics"] = [metric_from_saved(metric) for metric in meta["metrics"]]
    except UserError as error:
        raise UserError(f"{path / META}: {error}") from None
    options = meta.pop("loss_options", None)
    if meta["loss"] is not None and options is not None:
        try:
            meta["loss"] = from_saved(meta["loss"], options)
        except UserError as error:
            raise UserError(f"{path / META}: {error}") from None
    return meta


#: model.json's fields and the kinds of value each may hold.
_FIELDS: dict[str, tuple[type, ...]] = {
    "format": (str,), "version": (int,), "module": (dict,), "loss": (str, type(None)),
    "optimizer": (str, type(None)), "metrics": (list,), "seed": (int, type(None)),
    "loss_options": (dict, type(None))}
#: Fields that files written before them lack.
_OPTIONAL = {"loss_options"}
_MODULE_FIELDS: dict[str, tuple[type, ...]] = {
    "class": (str,), "registered_name": (str, type(None)), "config": (dict, type(None))}


def _check_fields(path: Path, meta: dict[str, Any]) -> None:
    """Refuse an unknown, missing or ill-typed field of model.json, naming it."""
    for fields, part, prefix in ((_FIELDS, meta, ""), (_MODULE_FIELDS, meta.get("module"), "module.")):
        unknown = [key for key in part if key not in fields]
        if unknown:
            raise UserError(f"{path}: unknown field {prefix}{unknown[0]!r}; the file was damaged or "
                            "tampered with: save the model again")
        for key, kinds in fields.items():
            if key not in part and key in _OPTIONAL:
                continue
            if key not in part or not isinstance(part[key], kinds) or isinstance(part[key], bool) and bool not in kinds:
                raise UserError(f"{path}: the field {prefix}{key} is missing or of the wrong kind; the "
                                "file was damaged or tampered with: save the model again")
    if not all(isinstance(metric, (str, dict)) for metric in meta["metrics"]):
        raise UserError(f"{path}: the field metrics must list names (or metrics with settings); the "
                        "file was damaged or tampered with: save the model again")


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
        (`loss`: its name, or with its settings a `LossSpec`; `optimizer`,
        `metrics`, `seed`).

    Raises:
        UserError: `path` is not a saved model, the module cannot be rebuilt
            (pass `module=`), or the weights do not fit `module`.
    """
    path = Path(path)
    meta = _read_meta(path)
    info = meta["module"]
    try:
        with open_regular(path / WEIGHTS) as file:
            weights = load_weights(file)
    except UserError as error:
        where = "" if str(error).startswith(str(path)) else f"{path / WEIGHTS}: "
        raise UserError(f"{where}{error}; save the model again (or pass the file that Model.save "
                        "wrote)") from None
    if module is None:
        def rebuild() -> torch.nn.Module:
            return _rebuild(path, info)

        try:
            check_weights_fit(rebuild, weights, f"{path / META}'s module.config", WEIGHTS)
            module = rebuild()
        except OptionError as error:
            raise UserError(f"{path / META}: module.config.{error.option}={error.value!r} "
                            f"{error.problem}; save the model again") from None
        except UserError as error:
            if str(error).startswith(str(path)):
                raise
            raise UserError(f"{error}; save the model again") from None
        except (TypeError, ValueError) as error:
            raise UserError(f"{path / META}: the field module.config does not fit {info['class']} "
                            f"({str(error).strip().splitlines()[0]}); save the model again") from None
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise UserError(
            f"the weights in {path} do not fit {type(module).__name__} ({first}); pass a "
            f"module built like the saved {info['class']}") from None
    return module, meta
