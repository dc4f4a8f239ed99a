"""Keras' spelling of the metrics' home: `from streamfit.metrics import AUC, Precision`.

Code ported from Keras writes `metrics=[keras.metrics.AUC()]`; with
streamfit it writes `from streamfit.metrics import AUC` and
`metrics=[AUC()]`. The metrics live in `streamfit.training.metrics`; this
module only names them again, so both spellings give the same classes.
"""

from streamfit.training.metrics import *  # noqa: F403 (the public metrics, by their own __all__)
from streamfit.training.metrics import __all__  # noqa: F401
