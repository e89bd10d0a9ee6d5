"""Every family builds, runs forward on image and time-series shapes, and exposes its blocks."""

import pydantic
import pytest
import torch

from tinylarge.errors import UnknownNameError
from tinylarge.models import (
    BlockNet,
    ModelSpec,
    build_model,
    count_params,
    default_student_spec,
    default_teacher_spec,
    family,
    list_models,
)

IMAGE_SHAPES = [(1, 28, 28), (1, 8, 8)]
SERIES_SHAPES = [(6, 1, 100), (1, 1, 24), (12, 1, 29)]


def test_registry_lists_teachers_and_students():
    assert set(list_models()) == {
        "resnet2d", "resnet1d", "cnn2d", "dscnn2d", "cnn1d", "dscnn1d", "mlp",
        "splitnet2d", "splitnet1d",
    }  # fmt: skip
    assert family("resnet2d").role == "teacher"
    assert family("dscnn1d").role == "student"


def test_unknown_family_names_it_and_lists_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        ModelSpec(name="transformer")
    assert "'transformer'" in str(err.value)
    assert "resnet2d" in str(err.value) and "mlp" in str(err.value)
    with pytest.raises(UnknownNameError):
        family("transformer")


def test_spec_rejects_bad_knobs():
    with pytest.raises(pydantic.ValidationError):
        ModelSpec(name="cnn2d", kernel_size=4)  # even kernel would misalign residual shapes
    with pytest.raises(pydantic.ValidationError):
        ModelSpec(name="cnn2d", width=0)
    with pytest.raises(pydantic.ValidationError):
        ModelSpec(name="cnn2d", colour="red")


def test_build_model_checks_shapes():
    with pytest.raises(ValueError, match="input_shape"):
        build_model(ModelSpec(name="cnn2d"), (28, 28), 10)
    with pytest.raises(ValueError, match="n_classes"):
        build_model(ModelSpec(name="cnn2d"), (1, 28, 28), 1)


def _shapes_for(name: str) -> list[tuple[int, int, int]]:
    kind = family(name).kind
    return {"image": IMAGE_SHAPES, "timeseries": SERIES_SHAPES}.get(
        kind, IMAGE_SHAPES + SERIES_SHAPES
    )


@pytest.mark.parametrize("name", list_models())
def test_every_family_forward_and_features(name):
    for shape in _shapes_for(name):
        spec = ModelSpec(name=name, width=8, depth=2, kernel_size=3, stem_stride=2)
        model = build_model(spec, shape, 5).eval()
        assert isinstance(model, BlockNet)
        x = torch.randn(3, *shape)
        logits = model(x)
        assert logits.shape == (3, 5)
        features = model.forward_features(x)
        assert len(features) == len(model.blocks)
        assert torch.allclose(model.head(features[-1]), logits)


def test_only_convertible_layer_types_are_used():
    allowed = (
        torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU, torch.nn.AdaptiveAvgPool2d,
        torch.nn.Linear, torch.nn.Flatten, torch.nn.Identity, torch.nn.Sequential,
        torch.nn.ModuleList,
    )  # fmt: skip
    for name in list_models():
        shape = _shapes_for(name)[0]
        model = build_model(ModelSpec(name=name), shape, 4)
        for module in model.modules():
            if module is model or type(module).__name__ == "BasicBlock":
                continue
            assert isinstance(module, allowed), f"{name}: {type(module).__name__}"


def test_one_dimensional_families_only_convolve_along_time():
    model = build_model(ModelSpec(name="resnet1d", width=4, depth=2, kernel_size=5), (3, 1, 16), 2)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            assert module.kernel_size[0] == 1 and module.stride[0] == 1


class _Info:
    def __init__(self, kind, input_shape, n_classes):
        self.kind, self.input_shape, self.n_classes = kind, input_shape, n_classes


@pytest.mark.parametrize(
    "info",
    [_Info("image", (1, 28, 28), 10), _Info("timeseries", (6, 1, 100), 4)],
    ids=["image", "timeseries"],
)
def test_presets_leave_room_for_distillation(info):
    teacher = build_model(default_teacher_spec(info), info.input_shape, info.n_classes)
    student = build_model(default_student_spec(info), info.input_shape, info.n_classes)
    n_teacher, n_student = count_params(teacher), count_params(student)
    assert 300_000 <= n_teacher <= 3_000_000
    assert n_student <= 25_000
    assert n_student <= 0.02 * n_teacher


def test_splitnet_bottleneck_is_the_narrowest_activation():
    from tinylarge.models.registry import bottleneck_channels

    spec = ModelSpec(name="splitnet2d", width=24, depth=3)
    net = build_model(spec, (1, 28, 28), 10)
    sizes = [f[0].numel() for f in net.forward_features(torch.zeros(1, 1, 28, 28))]
    assert bottleneck_channels(spec) == 3
    assert sizes[2] == 3 * 7 * 7 == min(sizes)  # stem 28x28, stage 1 14x14, bottleneck 7x7
    assert sizes[2] < 28 * 28  # smaller than the raw input: worth sending
