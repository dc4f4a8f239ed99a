"""The protocol of a run's stateful parts, which a checkpoint saves and restores.

Each part of a `fit` that changes while it runs says what its state is,
beside its fields (as torchdata's `Stateful` and Grain's `get_state` /
`set_state` do), so that a checkpoint is a dict of parts and a new field
touches one file:

| part | class | state |
| --- | --- | --- |
| the loop | `LoopState` (`training/state.py`) | position, epoch logs, clocks, `stop_training`, torch's random state; its parts below |
| the position | `SamplerState` (`sampling/sampler.py`) | seed, epoch, step |
| the running sums | `RunningMeans` (`training/metrics.py`) | the epoch's loss and metric sums and rows |
| the callbacks | `CallbackList`, each `Callback` (`training/callbacks/`) | e.g. `EarlyStopping`'s wait, best and best weights; `History` |
| the model | `Model` (`training/model.py`) | the module's weights and the optimizer's state |

`state_dict()` returns what JSON can hold and `load_state_dict(state)`
takes it back; a part that holds tensors adds `tensor_state_dict()` and
`load_tensor_state_dict(tensors)`, whose values go to the checkpoint's `.pt`
(read without pickle). The model's part is tensors only, so `Model` has
just the latter pair. A part's `load_*` reads its own keys of the dict it
gets and raises `UserError` when the state does not fit it; the checkpoint
(`Checkpoint.restore`) adds its path to the message.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from streamfit.errors import UserError


@runtime_checkable
class Stateful(Protocol):
    """A part whose JSON-ready state a checkpoint saves and restores."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def json_ready(value: Any, who: str) -> Any:
    """`value` as JSON gives it back (tuples become lists), or a UserError naming `who`.

    Args:
        value: the state to check.
        who: what returned it, for the message (`"EarlyStopping.state_dict()"`).

    Raises:
        UserError: `value` holds something JSON cannot (a tensor, a numpy number).
    """
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise UserError(
            f"{who} returned a value JSON cannot hold ({error}); return numbers, strings, "
            "lists and dicts (tensors go in tensor_state_dict())") from None
