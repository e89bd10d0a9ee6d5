"""random_shift moves content without changing it, per sample, and never along a length-1 axis."""

import torch

from tinylarge.train.augment import random_shift


def test_shift_moves_an_impulse_by_at_most_max_shift():
    x = torch.zeros(50, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(50))  # content kept (away from edges)
    rows, cols = out[:, 0].nonzero()[:, 1], out[:, 0].nonzero()[:, 2]
    assert (rows - 4).abs().max() <= 2 and (cols - 4).abs().max() <= 2
    assert len({(int(r), int(c)) for r, c in zip(rows, cols, strict=True)}) > 5  # per-sample shifts


def test_time_series_shift_only_along_time():
    x = torch.arange(2 * 3 * 1 * 10, dtype=torch.float32).reshape(2, 3, 1, 10)
    out = random_shift(x, 3, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    for sample in range(2):  # every channel of one sample moves by the same offset
        a, b = x[sample, :, 0], out[sample, :, 0]

        def matches(s, a=a, b=b):
            keep = slice(max(s, 0), 10 + min(s, 0))  # the part not filled with zeros
            return torch.equal(torch.roll(a, s, 1)[:, keep], b[:, keep])

        assert any(matches(s) for s in range(-3, 4))


def test_zero_shift_is_identity():
    x = torch.randn(4, 1, 5, 5)
    assert random_shift(x, 0, torch.Generator()) is x
