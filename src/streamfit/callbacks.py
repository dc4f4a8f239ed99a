"""Keras' spelling of the callbacks' home: `from streamfit.callbacks import EarlyStopping`.

Code ported from Keras writes `from keras.callbacks import EarlyStopping`;
with streamfit it writes `from streamfit.callbacks import EarlyStopping`.
The callbacks live in `streamfit.training.callbacks`, one per module; this
module only names them again, so both spellings give the same classes.
"""

from streamfit.training.callbacks import *  # noqa: F403 (the public callbacks, by their own __all__)
from streamfit.training.callbacks import __all__  # noqa: F401
