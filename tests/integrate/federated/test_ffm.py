"""FFM: only LoRA adapters and the head cross the network, and the encoder learns the task."""

import pytest

from tinylarge.integrate.federated import ffm
from tinylarge.integrate.federated.ffm import FFMConfig
from tinylarge.integrate.federated.result import FederatedResult


@pytest.mark.slow
def test_adapters_and_head_are_all_that_travels(local_grid):
    config = FFMConfig(
        n_clients=3, rounds=2, partition="iid", lr=0.05, local_steps=4, max_tokens=32
    )
    grid = local_grid(config.n_clients)
    result = FederatedResult.from_payload(config, ffm.serve(grid, config, None), 0.0)
    up = [m for m in grid.sent if m.metadata.message_type == "train"][0].content["arrays"]
    assert up.keys() and all("lora_" in k or k.startswith("head.") for k in up)
    extras = result.extras
    assert extras["trainable_params"] < 0.01 * extras["total_params"]
    assert result.summary["bytes_up_per_client_round"] < 1.1 * extras["adapter_bytes_float32"]
    assert result.final_accuracy > 0.3  # 8 classes: chance is 0.125
