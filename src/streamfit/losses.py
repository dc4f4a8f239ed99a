"""Keras' spelling of the losses' home: `from streamfit.losses import BinaryCrossentropy`.

Code ported from Keras writes `from keras.losses import BinaryCrossentropy`;
with streamfit it writes `from streamfit.losses import BinaryCrossentropy`.
The losses live in `streamfit.training.losses`; this module only names them
again, so both spellings give the same classes.
"""

from streamfit.training.losses import *  # noqa: F403 (the public losses, by their own __all__)
from streamfit.training.losses import __all__  # noqa: F401
