"""Scenario YAML: the embedded default loads; bad files fail with the file, field and reason."""

import pytest

from tinylarge.errors import TinylargeError
from tinylarge.scenario import default_scenario, load_scenario


def test_embedded_default_is_the_mnist5k_demo():
    s = default_scenario()
    assert (s.name, s.dataset, s.seed) == ("smart-camera", "mnist5k", 0)
    assert s.teacher.spec is None  # None = the tuned preset for the dataset


def test_full_scenario_round_trips(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: tiny\ndataset: digits\nseed: 3\n"
        "student:\n  spec: {name: dscnn2d, width: 8, depth: 2}\n  train: {epochs: 2}\n"
    )
    s = load_scenario(path)
    assert s.student.spec.name == "dscnn2d" and s.student.train.epochs == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dataset: cifar10\n", "dataset: unknown dataset 'cifar10'; valid: mnist5k"),
        (
            "datset: digits\n",
            "datset: unknown key 'datset'; valid: name, description, dataset, seed",
        ),
        ("seed: -1\n", "seed: Input should be greater than or equal to 0"),
        ("student: {spec: {name: vit}}\n", "unknown model 'vit'; valid: cnn1d"),
        ("name: [unclosed\n", "is not valid YAML"),
        ("device: arduino-uno\n", "device: unknown device 'arduino-uno'; valid: a100"),
        # loop.update federated and its section (issue 16)
        (
            "loop: {federated: {strategy: krum}}\n",
            "loop.federated.strategy: Input should be 'fedavg' or 'fedprox'",
        ),
        (
            "loop: {federated: {rounds: 0}}\n",
            "loop.federated.rounds: Input should be greater than or equal to 1",
        ),
        (
            "loop: {federated: {band: lora}}\n",
            "loop.federated.band: unknown band 'lora'; valid: nb-iot, lte-m, nr-fr1",
        ),
        (
            "loop: {federated: {epochs: 2}}\n",
            "loop.federated.epochs: unknown key 'epochs'; valid: rounds, strategy, proximal_mu,",
        ),
        (
            "loop: {federated: {max_clients: 1}}\n",
            "loop.federated.max_clients: Input should be greater than or equal to 2",
        ),
        ("loop: {federated: {lr: 0}}\n", "loop.federated.lr: Input should be greater than 0"),
        ("loop: {update: gossip}\n", "loop.update: Input should be 'redistill' or 'federated'"),
    ],
)
def test_bad_scenarios_are_rejected_with_the_reason(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TinylargeError) as err:
        load_scenario(path)
    assert message in str(err.value)
    assert "bad.yaml" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(TinylargeError, match="cannot read scenario .*nope.yaml"):
        load_scenario(tmp_path / "nope.yaml")
