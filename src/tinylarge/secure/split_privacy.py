"""Split-learning privacy: how well a server can rebuild a device's input from the activation it
receives at a cut, and what a noise defence buys against it.

Attack: the learning-based model inversion of He, Zhang and Lee, "Model inversion attacks against
collaborative inference" (ACSAC 2019), the black-box setting UnSplit (Erdogan et al., WPES 2022)
and SDAR (Zhu et al., 2023) also start from: the server holds auxiliary data from the same
distribution and can query the device part, so it trains a decoder ``activation -> input`` on
``(f_cut(x), x)`` pairs and applies it to the activations devices send. Reported: PSNR and SSIM
(scikit-image, on images rescaled to [0, 1] with the data's range) of the reconstructions, and how
often an independent classifier assigns them the true label.

Defence: Gaussian noise added on the device to the cut activation, ``a + N(0, (sigma * std_a)^2)``
with ``std_a`` the activation's standard deviation on training data (so ``sigma`` is a
noise-to-signal ratio), and the rest of the model fine-tuned with that noise in place (noise
injection as in Shredder, Mireshghallah et al., ASPLOS 2020). The attacker is adaptive: it trains
on noisy activations too.

The decoder is trained with its own minimal loop (MSE regression with Adam): the project's ``fit``
trains classifiers with cross-entropy, not image regression.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn


class NoisyCut(nn.Module):
    """``model`` with Gaussian noise of ``sigma * activation_std`` added at ``cut``.

    Noise is drawn in training and in evaluation alike: the device adds it to every activation it
    sends. ``model`` must split like a ``BlockNet`` (``forward_until`` / ``forward_from``).
    """

    def __init__(self, model: nn.Module, cut: int, sigma: float, activation_std: float) -> None:
        super().__init__()
        self.model, self.cut = model, cut
        self.noise_std = float(sigma * activation_std)

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        a = self.model.forward_until(x, self.cut)
        return a + self.noise_std * torch.randn_like(a) if self.noise_std > 0 else a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_from(self.activation(x), self.cut)


def _up_blocks(c: int, h: int, target_h: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    while h < target_h:
        layers += [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
        ]
        h *= 2
    return layers


class Inverter(nn.Module):
    """Decoder from an activation ``(C_a, H_a, W_a)`` to an input ``(C, H, W)``: convolutions,
    nearest-neighbour upsampling until the input size is reached, a resize to it exactly."""

    def __init__(
        self, activation_shape: tuple[int, ...], input_shape: tuple[int, ...], width: int = 64
    ) -> None:
        super().__init__()
        c_a, h_a = activation_shape[0], activation_shape[1]
        c, self.out_hw = input_shape[0], tuple(input_shape[1:])
        self.body = nn.Sequential(
            nn.Conv2d(c_a, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            *_up_blocks(width, h_a, input_shape[1]),
        )
        self.out = nn.Conv2d(width, c, 3, padding=1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        h = self.body(a)
        if tuple(h.shape[-2:]) != self.out_hw:
            h = F.interpolate(h, size=self.out_hw, mode="bilinear", align_corners=False)
        return self.out(h)


@torch.no_grad()
def activations(device_part: nn.Module, x: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """What the device sends for inputs ``x`` (eval mode; noise included for :class:`NoisyCut`)."""
    device_part.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    return torch.cat([device_part(xt[i : i + batch_size]) for i in range(0, len(xt), batch_size)])


def train_inverter(
    a_train: torch.Tensor,
    x_train: np.ndarray,
    input_shape: tuple[int, ...],
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 2e-3,
    width: int = 64,
    seed: int = 0,
) -> Inverter:
    """Fit an :class:`Inverter` to ``activation -> input`` pairs by MSE (the attacker's loop)."""
    torch.manual_seed(seed)
    inverter = Inverter(tuple(a_train.shape[1:]), input_shape, width=width)
    xt = torch.as_tensor(x_train, dtype=torch.float32)
    opt = torch.optim.Adam(inverter.parameters(), lr=lr)
    steps = epochs * max(1, len(xt) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    inverter.train()
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=generator)
        for i in range(0, len(xt) - batch_size + 1, batch_size):
            idx = perm[i : i + batch_size]
            loss = F.mse_loss(inverter(a_train[idx]), xt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step < steps - 1:
                sched.step()
            step += 1
    return inverter.eval()


@torch.no_grad()
def reconstruct(inverter: Inverter, a: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    inverter.eval()
    return torch.cat(
        [inverter(a[i : i + batch_size]) for i in range(0, len(a), batch_size)]
    ).numpy()


def to_unit_range(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Inputs mapped to [0, 1] with the data's range (what image quality metrics expect)."""
    return np.clip((np.asarray(x, dtype=np.float64) - low) / (high - low), 0.0, 1.0)


def image_quality(original: np.ndarray, rebuilt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image PSNR (dB) and SSIM of ``rebuilt`` vs ``original``, both ``(n, C, H, W)`` in [0, 1].

    SSIM is Wang et al. (IEEE TIP 2004) as scikit-image computes it: 7x7 uniform windows over
    each channel, averaged; images smaller than 7 px use their full side (odd).
    """
    n, c, h, w = original.shape
    win = min(7, h if h % 2 else h - 1, w if w % 2 else w - 1)
    psnr = np.empty(n)
    ssim = np.empty(n)
    for i in range(n):
        o = np.moveaxis(original[i], 0, -1)
        r = np.moveaxis(rebuilt[i], 0, -1)
        psnr[i] = peak_signal_noise_ratio(o, r, data_range=1.0)
        ssim[i] = structural_similarity(o, r, data_range=1.0, channel_axis=-1, win_size=win)
    return psnr, ssim


@dataclass(frozen=True)
class AttackResult:
    """One attack at one cut: reconstruction quality and how recognisable the images are."""

    cut: int
    activation_shape: tuple[int, ...]
    psnr_db: float
    ssim: float
    recognised: float  # share of reconstructions an independent classifier labels correctly
    psnr_db_per_image: tuple[float, ...] = ()
    ssim_per_image: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("psnr_db_per_image")
        d.pop("ssim_per_image")
        return d


def attack_cut(
    device_part: nn.Module,
    cut: int,
    x_aux: np.ndarray,
    x_victim: np.ndarray,
    y_victim: np.ndarray,
    judge: nn.Module,
    data_range: tuple[float, float],
    *,
    epochs: int = 10,
    width: int = 64,
    seed: int = 0,
) -> tuple[AttackResult, np.ndarray]:
    """Train the inverter on the attacker's ``x_aux``, invert the victims' activations, score.

    ``device_part`` maps inputs to what is sent (a cut model, or :meth:`NoisyCut.activation`
    wrapped as a module); ``judge`` is a classifier trained independently of the victim model.
    Returns the result and the reconstructions (in the input's normalised space).
    """
    a_aux = activations(device_part, x_aux)
    a_victim = activations(device_part, x_victim)
    inverter = train_inverter(
        a_aux, x_aux, tuple(x_aux.shape[1:]), epochs=epochs, width=width, seed=seed
    )
    rebuilt = reconstruct(inverter, a_victim)
    low, high = data_range
    psnr, ssim = image_quality(
        to_unit_range(x_victim, low, high), to_unit_range(rebuilt, low, high)
    )
    judge.eval()
    with torch.no_grad():  # the attacker knows the valid pixel range: clip to it first
        clipped = np.clip(rebuilt, low, high).astype(np.float32)
        labels = judge(torch.as_tensor(clipped)).argmax(1).numpy()
    return (
        AttackResult(
            cut=cut,
            activation_shape=tuple(int(d) for d in a_victim.shape[1:]),
            psnr_db=float(np.mean(psnr)),
            ssim=float(np.mean(ssim)),
            recognised=float(np.mean(labels == np.asarray(y_victim))),
            psnr_db_per_image=tuple(float(v) for v in psnr),
            ssim_per_image=tuple(float(v) for v in ssim),
        ),
        rebuilt,
    )


class DevicePart(nn.Module):
    """``blocks[:cut]`` of a split-able model as a module (what the device runs)."""

    def __init__(self, model: nn.Module, cut: int) -> None:
        super().__init__()
        self.model, self.cut = model, cut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_until(x, self.cut)


class NoisyDevicePart(nn.Module):
    """The device part of a :class:`NoisyCut` model: its noisy activation."""

    def __init__(self, noisy: NoisyCut) -> None:
        super().__init__()
        self.noisy = noisy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.noisy.activation(x)
