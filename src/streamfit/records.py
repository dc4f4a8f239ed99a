"""What two JSON records differ in: the one comparison behind every "written for other data" error.

A checkpoint's fingerprint and a recipe run's identity are nested JSON
dicts. Both refusals name the first differences as dotted keys
(`data.num_samples is 300 in the checkpoint but 250 now`), in the current
record's order, then the keys only the saved one has. No torch here: the
recipe compares before it imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_ABSENT = object()
#: A value shown in a difference is cut to this many characters.
_SHOWN = 60


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}, "c": 2}` -> `{"a.b": 1, "c": 2}` (an empty dict is a value)."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _shown(flat: dict[str, Any], key: str) -> str:
    text = json.dumps(flat[key]) if key in flat else "absent"
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def differences(saved: dict[str, Any], now: dict[str, Any], *, where: str = "in the checkpoint",
                name: Callable[[str], str] = str) -> list[str]:
    """Each dotted key whose value differs, as `KEY is SAVED WHERE but NOW now`, most telling first.

    Args:
        saved: the record written earlier.
        now: the record of this run; its key order decides the order.
        where: how the message places `saved` ("in the checkpoint").
        name: turns a dotted key into the name shown (e.g. drops a prefix).
    """
    flat_saved, flat_now = flatten(saved), flatten(now)
    return [f"{name(key)} is {_shown(flat_saved, key)} {where} but {_shown(flat_now, key)} now"
            for key in [*flat_now, *(key for key in flat_saved if key not in flat_now)]
            if flat_saved.get(key, _ABSENT) != flat_now.get(key, _ABSENT)]
