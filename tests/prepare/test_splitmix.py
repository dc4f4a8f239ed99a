import numpy as np

from streamfit.features.hashing import hash_keys
from streamfit.prepare.splitmix import GOLDEN, splitmix64


def test_the_first_outputs_of_splitmix64_seeded_with_0():
    states = np.array([0, GOLDEN, 2 * GOLDEN % 2 ** 64], dtype=np.uint64)
    assert splitmix64(states).tolist() == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_hashed_keys_are_the_same_mixer_with_the_seed_as_increment():
    keys = np.array([0, 5, 2 ** 40 + 3], dtype=np.int64)
    assert hash_keys(keys, seed=1).tolist() == splitmix64(keys.view(np.uint64)).tolist()
    assert hash_keys(keys, seed=0).tolist() == splitmix64(keys.view(np.uint64), 0).tolist()
    assert np.array_equal(splitmix64(np.array([7], np.uint64), 2 ** 64 + 3), splitmix64(np.array([7], np.uint64), 3))
