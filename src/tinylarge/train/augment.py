"""Light, label-preserving augmentation for small datasets."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each sample of ``x`` (n, C, H, W) by up to ``max_shift`` cells, zero-filling the edge.

    Rows and columns shift independently per sample; an axis of length 1 (the ``H`` of a time
    series laid out as ``(n, C, 1, L)``) is left alone,
    so the same call jitters time series in time.
    Zero is the normalised mean, so the fill looks like "no signal".
    """
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    pad_h = max_shift if h > 1 else 0
    padded = F.pad(x, (max_shift, max_shift, pad_h, pad_h))
    dy = torch.randint(0, 2 * pad_h + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]  # (n, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]  # (n, 1, 1, W)
    batch = torch.arange(n)[:, None, None, None]
    channels = torch.arange(x.shape[1])[None, :, None, None]
    return padded[batch, channels, rows, cols]
