"""ArtifactCache: the second identical run is a fast hit with identical weights and result."""

import dataclasses
import json
import time

import torch

from tinylarge.models import ModelSpec, load_checkpoint
from tinylarge.train import ArtifactCache, TrainConfig, default_cache_root
from tinylarge.train.cache import cache_key, dataset_fingerprint

SPEC = ModelSpec(name="cnn2d", width=8, depth=2)
CONFIG = TrainConfig(epochs=4, batch_size=32, lr=1e-2, seed=0)


def test_second_call_is_a_fast_identical_hit(digits_small, tmp_path):
    cache = ArtifactCache(tmp_path)
    start = time.perf_counter()
    model_a, result_a = cache.cached_fit(SPEC, digits_small, CONFIG, progress=False)
    miss_s = time.perf_counter() - start
    start = time.perf_counter()
    model_b, result_b = cache.cached_fit(SPEC, digits_small, CONFIG, progress=False)
    hit_s = time.perf_counter() - start

    assert not result_a.from_cache and result_b.from_cache
    assert hit_s < miss_s / 3
    assert dataclasses.replace(result_b, from_cache=False) == result_a
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.as_tensor(digits_small.x_test[:8])
    assert torch.equal(model_a.eval()(x), model_b(x))

    (entry,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    ckpt = load_checkpoint(entry / "model.pt")  # an entry is a regular checkpoint
    assert ckpt.meta["dataset"] == "digits" and ckpt.spec == SPEC
    assert json.loads((entry / "result.json").read_text())["n_epochs"] == 4
    assert not list(entry.glob("*.tmp"))


def test_incomplete_entry_is_retrained(digits_small, tmp_path):
    cache = ArtifactCache(tmp_path)
    cache.cached_fit(SPEC, digits_small, CONFIG, progress=False)
    (entry,) = list(tmp_path.iterdir())
    (entry / "result.json").unlink()  # as if the process died between the two writes
    _, result = cache.cached_fit(SPEC, digits_small, CONFIG, progress=False)
    assert not result.from_cache


def test_key_changes_with_every_input(digits_small):
    base = {"dataset": dataset_fingerprint(digits_small), "config": CONFIG.model_dump(mode="json")}
    other_seed = {**base, "config": CONFIG.model_copy(update={"seed": 1}).model_dump(mode="json")}
    other_data = dataclasses.replace(digits_small, x_train=digits_small.x_train[:-1])
    other_split = {**base, "dataset": dataset_fingerprint(other_data)}
    keys = {cache_key(base), cache_key(other_seed), cache_key(other_split)}
    assert len(keys) == 3
    assert cache_key(base) == cache_key(dict(base))  # stable


def test_default_root_is_user_cache_but_overridable(tmp_path):
    assert ArtifactCache().root == default_cache_root()
    assert default_cache_root().parts[-2:] == (".cache", "tinylarge")
    assert ArtifactCache(tmp_path).root == tmp_path
