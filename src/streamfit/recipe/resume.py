"""`resume` checked before the data is prepared: the newest checkpoint's data and options against this run's.

A checkpoint of the recipe records the prepared data's key (the files' paths,
sizes and modification times, and the source and prepare options) and the
recipe's options (`TrainConfig.fingerprint`). Both can be computed from the
command line alone, so a run whose data or options changed is refused at
once, not after the (possibly long) prepare; `Model.fit` checks the rest of
the fingerprint when it resumes. No torch here: `streamfit train` runs this
before it starts preparing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from streamfit import records
from streamfit.errors import OptionError
from streamfit.prepare.pipeline import cache_key
from streamfit.recipe.config import prepare_options
from streamfit.sources import SourceSpec

#: A checkpoint's `.json`, as `streamfit.training.checkpoint.file` names them.
_NAME = re.compile(r"^ckpt-(\d+)-e(\d+)-s(\d+)\.json$")
#: The checkpoint `.json` read (a real one holds a few kB and the training history).
_MAX_BYTES = 64 << 20


def run_options(config: Any, model_kind: str) -> dict[str, Any]:
    """The recipe's options a checkpoint records (`TrainConfig.fingerprint`, the model kind), as JSON."""
    options = config.fingerprint()
    options["model_kind"] = model_kind
    return json.loads(json.dumps(options))


def run_identity(spec: SourceSpec, config: Any, validation: SourceSpec | None,
                 model_kind: str) -> dict[str, Any]:
    """What the recipe's checkpoints record of a run: `{"data": cache key, "options": ...}`."""
    key = cache_key(spec, prepare_options(config, validation), validation)
    return {"data": json.loads(json.dumps(key)), "options": run_options(config, model_kind)}


def newest_checkpoint(directory: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint `.json` in `directory` and what it records of its run, if readable.

    Unreadable or foreign files are passed over: `Model.fit` reports them when it resumes.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    for name in sorted((n for n in names if _NAME.match(n)), key=lambda n: int(_NAME.match(n)[1]),
                       reverse=True):
        path = directory / name
        try:
            if path.is_symlink() or path.stat().st_size > _MAX_BYTES:
                continue
            meta = json.loads(path.read_text(encoding="utf-8"))
            user = meta["fingerprint"]["user"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(user, dict) and isinstance(user.get("data"), dict) and isinstance(user.get("options"), dict):
            return path, user
    return None


def check_resume(spec: SourceSpec, config: Any, validation: SourceSpec | None = None) -> None:
    """Refuse `config.resume` when the newest checkpoint was written for other data or options.

    Cheap (a few `stat`s and one small JSON file): run before preparing.

    Raises:
        OptionError: `resume`, naming the checkpoint and the first differences
            (`--resume cannot continue from ...` on the command line).
    """
    if not config.resume:
        return
    found = newest_checkpoint(Path(config.output) / "checkpoints")
    if found is None:
        return
    path, saved = found
    now = run_identity(spec, config, validation, config.model_kind)
    if config.model_kind == "auto":  # resolved after preparing: `Model.fit` compares it
        saved = {**saved, "options": {k: v for k, v in saved["options"].items() if k != "model_kind"}}
        now["options"].pop("model_kind")
    differences = describe_differences(saved, now)
    if differences:
        raise resume_refused(path, differences)


def resume_refused(path: Path | str, differences: list[str]) -> OptionError:
    """The error for a checkpoint of other data or options, naming `resume` (`--resume`)."""
    more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
    return OptionError(
        "resume", True,
        f"cannot continue from {path}: it was written for other data or options "
        f"({'; '.join(differences[:3])}{more}); train with the data and options it was written "
        "for, or drop the option to train from the start (its checkpoints are then removed)")


def describe_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The differences between two run identities, most telling first, each short."""
    differences = []
    for section in ("sources", "validation_sources"):
        differences += _file_differences(section, saved["data"].get(section), now["data"].get(section))
    rest_saved = {"data": {k: v for k, v in saved["data"].items() if not k.endswith("sources")},
                  "options": saved["options"]}
    rest_now = {"data": {k: v for k, v in now["data"].items() if not k.endswith("sources")},
                "options": now["options"]}
    return differences + records.differences(
        rest_saved, rest_now,
        name=lambda key: key.removeprefix("options.").removeprefix("data."))


def _file_differences(section: str, saved: Any, now: Any) -> list[str]:
    """`train.csv changed (size or modification time)`, `b.csv is new`, `c.csv is gone`."""
    if saved == now:
        return []
    what = "validation file" if section.startswith("validation") else "file"
    if not isinstance(saved, list) or not isinstance(now, list):
        return [f"the {what}s differ"]

    def by_path(files: list) -> dict[str, Any]:
        return {str(f.get("path")) if isinstance(f, dict) else str(f): f for f in files}

    old, new = by_path(saved), by_path(now)
    out = [f"the {what} {path} changed (size or modification time)"
           for path in new if path in old and old[path] != new[path]]
    out += [f"the {what} {path} is new" for path in new if path not in old]
    out += [f"the {what} {path} is gone" for path in old if path not in new]
    return out or [f"the {what}s differ"]
