"""Two trains on the same default cache at once: both succeed, one cache, nothing left over."""

from faults.processes import start, temporaries, write_big_corpus


def test_two_trains_on_one_default_cache(tmp_path):
    data = write_big_corpus(tmp_path / "train.csv", 20_000)
    root = tmp_path / "root"
    env = {"STREAMFIT_CACHE": str(root)}
    runs = [start("train", data, "--output", tmp_path / f"m{i}", "--epochs", "1", "--seed", "2",
                  env=env) for i in range(2)]
    outcomes = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outcomes
    assert len([p for p in root.iterdir() if not p.name.startswith(".")]) == 1
    assert temporaries(root) == []
    assert (tmp_path / "m0" / "weights.npz").read_bytes() == (tmp_path / "m1" / "weights.npz").read_bytes()
