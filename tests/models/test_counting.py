"""Parameter and MAC counts match hand computation (MACs: Conv2d + Linear, batch 1)."""

import pytest
from torch import nn

from tinylarge.models import ModelSpec, build_model, count_macs, count_params


def test_cnn2d_counts_match_hand_computation():
    # input 1x8x8, width 4, depth 2, 3x3 kernels, 3 classes
    # stem  1->4 @8x8 : macs 4*8*8*1*9 = 2304, params 36 + bn 8
    # stage 4->4 @4x4 : macs 4*4*4*4*9 = 2304, params 144 + 8
    # stage 4->8 @2x2 : macs 8*2*2*4*9 = 1152, params 288 + 16
    # head  8->3      : macs 24,              params 24 + 3
    model = build_model(ModelSpec(name="cnn2d", width=4, depth=2), (1, 8, 8), 3)
    assert count_macs(model, (1, 8, 8)) == 2304 + 2304 + 1152 + 24
    assert count_params(model) == 44 + 152 + 304 + 27


def test_dscnn1d_counts_depthwise_as_one_input_channel_per_output():
    # input 2x1x10, width 4, depth 1, (1,3) kernels, 2 classes
    # stem 2->4 @1x10      : macs 4*10*2*3 = 240, params 24 + 8
    # depthwise 4 @1x5     : macs 4*5*1*3  = 60,  params 12 + 8
    # pointwise 4->4 @1x5  : macs 4*5*4    = 80,  params 16 + 8
    # head 4->2            : macs 8,              params 10
    model = build_model(ModelSpec(name="dscnn1d", width=4, depth=1), (2, 1, 10), 2)
    assert count_macs(model, (2, 1, 10)) == 240 + 60 + 80 + 8
    assert count_params(model) == 32 + 20 + 24 + 10


def test_resnet2d_counts_include_projection_shortcut():
    # input 1x8x8, width 4, depth 1: stem 2304 MACs / 44 params; block conv1 (stride 2) and conv2
    # at 4x4x4 are 2304 MACs / 152 params each; 1x1 stride-2 projection 4*4*4*4 = 256 / 24;
    # head 4->2: 8 / 10
    model = build_model(ModelSpec(name="resnet2d", width=4, depth=1), (1, 8, 8), 2)
    assert count_macs(model, (1, 8, 8)) == 2304 + 2304 + 2304 + 256 + 8
    assert count_params(model) == 44 + 152 + 152 + 24 + 10


def test_mlp_counts():
    # 16 -> 8 -> 8 -> 3
    model = build_model(ModelSpec(name="mlp", width=8, depth=2), (1, 4, 4), 3)
    assert count_macs(model, (1, 4, 4)) == 16 * 8 + 8 * 8 + 8 * 3
    assert count_params(model) == (16 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)


def test_count_macs_leaves_model_mode_and_hooks_untouched():
    model = build_model(ModelSpec(name="cnn2d", width=4, depth=2), (1, 8, 8), 3).train()
    count_macs(model, (1, 8, 8))
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("trainable_only", [False, True])
def test_count_params_trainable_only(trainable_only):
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    model[0].weight.requires_grad_(False)
    assert count_params(model, trainable_only) == (14 - 6 if trainable_only else 14)
