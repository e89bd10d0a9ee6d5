"""Split privacy: the inversion attacker learns, metrics agree with their definitions, and noise
at the cut makes reconstructions worse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinylarge.data import load_dataset
from tinylarge.models import ModelSpec, build_model
from tinylarge.secure.split_privacy import (
    DevicePart,
    Inverter,
    NoisyCut,
    NoisyDevicePart,
    activations,
    attack_cut,
    image_quality,
)
from tinylarge.train import TrainConfig, fit


def test_psnr_is_the_textbook_formula_and_identity_is_perfect():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(3, 1, 12, 12))
    b = np.clip(a + rng.normal(0, 0.05, size=a.shape), 0, 1)
    psnr, ssim = image_quality(a, b)
    mse = ((a - b) ** 2).reshape(3, -1).mean(1)
    np.testing.assert_allclose(psnr, 10 * np.log10(1.0 / mse))
    assert np.all(ssim < 1)
    _, same = image_quality(a, a)
    np.testing.assert_allclose(same, 1.0)


def test_ssim_ranks_distortions_like_a_viewer():
    """A mean shift keeps structure (high SSIM); scrambled pixels destroy it (low SSIM)."""
    x = np.zeros((1, 1, 16, 16))
    x[..., 4:12, 4:12] = 0.8
    shifted = np.clip(x + 0.1, 0, 1)
    scrambled = np.random.default_rng(0).permutation(x.ravel()).reshape(x.shape)
    assert image_quality(x, shifted)[1][0] > 0.8 > 0.3 > image_quality(x, scrambled)[1][0]


@pytest.mark.parametrize(
    ("a_shape", "x_shape"),
    [
        ((2, 7, 7), (1, 28, 28)),
        ((16, 4, 4), (1, 28, 28)),
        ((8, 2, 2), (1, 8, 8)),
        ((3, 8, 8), (3, 8, 8)),
    ],
)
def test_the_inverter_maps_any_cut_shape_back_to_the_input_shape(a_shape, x_shape):
    out = Inverter(a_shape, x_shape)(torch.zeros(2, *a_shape))
    assert tuple(out.shape) == (2, *x_shape)


def test_noisy_cut_adds_noise_of_the_stated_size():
    model = build_model(ModelSpec(name="cnn2d", width=4, depth=2), (1, 8, 8), 10)
    torch.manual_seed(0)
    noisy = NoisyCut(model, cut=1, sigma=0.5, activation_std=2.0)
    x = torch.randn(64, 1, 8, 8)
    model.eval()
    diff = noisy.activation(x) - model.forward_until(x, 1)
    assert abs(float(diff.std()) - 1.0) < 0.05


@pytest.mark.slow
def test_the_attacker_rebuilds_inputs_and_noise_hurts_it():
    ds = load_dataset("digits", seed=0)
    torch.manual_seed(0)
    model = build_model(ModelSpec(name="cnn2d", width=8, depth=2), ds.info.input_shape, 10)
    fit(model, ds, TrainConfig(epochs=3, batch_size=64, lr=1e-2), progress=False)
    judge = build_model(ModelSpec(name="cnn2d", width=6, depth=2), ds.info.input_shape, 10)
    fit(judge, ds, TrainConfig(epochs=3, batch_size=64, lr=1e-2, seed=1), progress=False)
    data_range = (float(ds.x_train.min()), float(ds.x_train.max()))
    x_aux, x_vic, y_vic = ds.x_train, ds.x_test[:200], ds.y_test[:200]
    clean, _ = attack_cut(DevicePart(model, 1), 1, x_aux, x_vic, y_vic, judge, data_range, epochs=8)
    std = float(activations(DevicePart(model, 1), x_aux).std())
    torch.manual_seed(0)
    noisy = NoisyDevicePart(NoisyCut(model, 1, sigma=3.0, activation_std=std))
    defended, _ = attack_cut(noisy, 1, x_aux, x_vic, y_vic, judge, data_range, epochs=8)
    # a blurry mean digit scores ~12 dB; the attacker must beat that clearly
    mean_img = np.broadcast_to(x_aux.mean(0), x_vic.shape)
    from tinylarge.secure.split_privacy import to_unit_range

    lo, hi = data_range
    baseline = image_quality(to_unit_range(x_vic, lo, hi), to_unit_range(mean_img, lo, hi))[0]
    assert clean.psnr_db > baseline.mean() + 3
    assert clean.recognised > 0.7
    assert defended.psnr_db < clean.psnr_db - 1 and defended.ssim < clean.ssim
