"""FTL end to end on digits: the LargeML teacher's distilled backbone in int8, a federated head,
and the device step in C matching the Python clients (host gcc; Cortex-M4 under QEMU)."""

import shutil

import pytest
from flwr.app import ArrayRecord

from tinylarge.integrate.federated import ftl
from tinylarge.integrate.federated.ftl import FTLConfig, build_backbone, head_module
from tinylarge.integrate.federated.ftl_device import check_round
from tinylarge.integrate.federated.result import FederatedResult
from tinylarge.train import ArtifactCache


@pytest.fixture(scope="module")
def config():
    base = FTLConfig(
        dataset="digits", n_clients=5, rounds=3, n_holdout_clients=1, pretrain_epochs=3
    )
    meta = build_backbone(base, ArtifactCache())
    return base.model_copy(
        update={
            "backbone_path": meta["path"],
            "backbone_sha256": meta["sha256"],
            "backbone_arena_bytes": meta["arena_bytes"],
        }
    )


@pytest.mark.slow
def test_only_the_head_trains_and_travels(config, local_grid):
    payload = ftl.serve(local_grid(config.n_clients), config, None)
    result = FederatedResult.from_payload(config, payload, 0.0)
    head = head_module(config)
    n_params = sum(p.numel() for p in head.parameters())
    assert (
        result.summary["bytes_up_per_client_round"] == ArrayRecord(head.state_dict()).count_bytes()
    )
    # trainable memory on the device: the head's weights and gradients (plain SGD), float32
    assert result.memory["trainable_bytes"] == 2 * 4 * n_params
    assert result.memory["frozen_bytes"] == result.extras["backbone_ram_bytes"] > 0
    assert result.summary["fits_device_sram"]
    assert result.final_accuracy > 0.3 and result.personalised["accuracy_after"] > 0.3  # chance 0.1


@pytest.mark.slow
@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_a_round_of_c_clients_matches_the_python_clients(config, target):
    tool = "gcc" if target == "host" else "qemu-system-arm"
    if shutil.which(tool) is None or (target != "host" and not shutil.which("arm-none-eabi-gcc")):
        pytest.skip(f"needs {tool}")
    check = check_round(config, [0, 1], target=target)
    assert check.max_abs_diff < 1e-6
    assert (check.python_weight != 0).any()
    if target != "host":
        assert check.backbone_instructions_per_sample > 0 < check.head_instructions_per_sample
