"""The configuration every federated framework shares, and the few values it is built from.

One frozen pydantic class, :class:`FederatedConfig`, holds what a run needs (data, clients,
rounds, local training, radio, device, engine); each framework subclasses it with its own knobs
(FedProx's ``proximal_mu``, Reptile's outer step, the split cut, LoRA's rank). Everything is
checked when the config is built, before any data is loaded.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.models import ModelSpec


class Framework(StrEnum):
    """The survey's learning-together frameworks (FedProx is FL with a proximal term)."""

    FL = "fl"
    FEDPROX = "fedprox"
    FTL = "ftl"
    FML = "fml"
    SL = "sl"
    FSL = "fsl"
    FFM = "ffm"
    ROBUST = "robust"  # FL under poisoning attacks / with client-level DP (issue 15)


EvalSplit = Literal["test", "validation"]


class Engine(StrEnum):
    SIMULATION = "simulation"  # Flower's simulation runtime (Ray)
    DEPLOYMENT = "deployment"  # a SuperLink and SuperNodes on loopback, `flwr run`
    INPROCESS = "inprocess"  # Flower's objects, direct calls (benchmarks: no Ray start per run)


def parse_partition(text: str) -> tuple[str, float | None]:
    """``"iid"`` -> ``("iid", None)``; ``"dirichlet:0.3"`` -> ``("dirichlet", 0.3)``; ``"group"``
    (one client per subject/speaker, dealt round-robin when there are fewer clients)."""
    kind, _, arg = text.partition(":")
    valid = "iid, dirichlet:ALPHA (ALPHA > 0), group"
    if kind in ("iid", "group") and not arg:
        return kind, None
    if kind == "dirichlet":
        try:
            alpha = float(arg)
        except ValueError:
            alpha = -1.0
        if alpha > 0:
            return kind, alpha
    raise TinylargeError(f"unknown partition {text!r}; valid: {valid}")


def parse_holdout(text: str, n_clients: int, n_holdout: int) -> list[int]:
    """The held-out client ids: ``"last"`` -> the last ``n_holdout``; ``"fold:K"`` -> clients
    ``K*n_holdout .. K*n_holdout + n_holdout - 1`` (distinct folds hold out disjoint clients, so
    validation and test can use different held-out clients of a deterministic partition)."""
    n_folds = n_clients // n_holdout if n_holdout else 0
    kind, _, arg = text.partition(":")
    if kind == "last" and not arg:
        return list(range(n_clients - n_holdout, n_clients))
    if kind == "fold" and arg.isdigit() and int(arg) < n_folds:
        return list(range(int(arg) * n_holdout, (int(arg) + 1) * n_holdout))
    valid = f"last, fold:K with K in 0..{n_folds - 1}" if n_folds else "last (no held-out clients)"
    raise TinylargeError(f"unknown holdout {text!r}; valid: {valid}")


def _check_partition(text: str) -> str:
    parse_partition(text)
    return text


def federated_datasets() -> list[str]:
    """The bundled datasets plus the synthetic alarm-text task (FFM)."""
    from tinylarge.data.netops import NAME
    from tinylarge.data.registry import dataset_names

    return [*dataset_names(), NAME]


def _check_dataset(name: str) -> str:
    if name not in federated_datasets():
        raise UnknownNameError("dataset", name, federated_datasets())
    return name


def _check_band(name: str) -> str:
    from tinylarge.net import load_band

    return load_band(name).name


def _check_device(name: str) -> str:
    from tinylarge.tiny.devices import load_device

    return load_device(name).name


def _check_strategy(name: str) -> str:
    from tinylarge.integrate.federated.strategy import strategy_names

    if name not in strategy_names():
        raise UnknownNameError("strategy", name, strategy_names())
    return name


def _check_ref(text: str) -> str:
    """``"random"`` or a ``"package.module:factory"`` reference (loaded when the run starts)."""
    if text != "random" and (":" not in text or not all(text.partition(":")[::2])):
        raise TinylargeError(f"unknown selection {text!r}; valid: random, or module:factory")
    return text


Partition = Annotated[str, AfterValidator(_check_partition)]
DatasetName = Annotated[str, AfterValidator(_check_dataset)]
BandName = Annotated[str, AfterValidator(_check_band)]
DeviceName = Annotated[str, AfterValidator(_check_device)]
StrategyName = Annotated[str, AfterValidator(_check_strategy)]
SelectionRef = Annotated[str, AfterValidator(_check_ref)]


class RadioConfig(BaseModel):
    """Where the clients sit in the cell: the TR 38.901 channel of :mod:`tinylarge.net`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    band: BandName = "nr-fr1"
    scenario: str | None = Field(None, description="TR 38.901 scenario (default: the band's)")
    min_distance_m: float = Field(20.0, gt=0, description="nearest client to the base station")
    max_distance_m: float = Field(400.0, gt=0, description="farthest client")

    @model_validator(mode="after")
    def _ordered(self) -> RadioConfig:
        if self.max_distance_m < self.min_distance_m:
            raise ValueError(
                f"max_distance_m {self.max_distance_m:g} < min_distance_m {self.min_distance_m:g}"
            )
        if self.scenario is not None:
            from tinylarge.net import scenario_model

            scenario_model(self.scenario)
        return self


class FederatedConfig(BaseModel):
    """What every framework's run needs. ``None`` model specs take the dataset's student preset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    framework: Framework = Framework.FL
    dataset: DatasetName = "mnist5k"
    split_seed: int = Field(0, ge=0, description="seed of the dataset's train/test split")
    n_clients: int = Field(10, ge=2, le=1000, description="clients (SuperNodes)")
    rounds: int = Field(5, ge=1, le=10000, description="federated rounds (SL/FSL: epochs)")
    partition: Partition = "dirichlet:0.3"
    seed: int = Field(0, ge=0, description="seed of partition, init, sampling and channels")
    clients_per_round: int | None = Field(
        None, ge=1, description="clients trained per round (default: every training client)"
    )
    local_epochs: int = Field(1, ge=1, description="local epochs per round")
    local_steps: int | None = Field(
        None, ge=1, description="local optimizer steps per round instead of epochs"
    )
    batch_size: int = Field(32, ge=2)
    lr: float = Field(0.05, gt=0, description="local SGD learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, description="local SGD momentum")
    server_fraction: float = Field(
        0.3, ge=0, lt=1, description="share of the training data held by the LargeML server"
    )
    model: ModelSpec | None = None
    strategy: StrategyName = "fedavg"
    selection: SelectionRef = "random"
    selection_params: dict[str, float] = Field(
        default_factory=dict, description="keyword arguments of the selection factory"
    )
    n_holdout_clients: int = Field(
        0, ge=0, description="clients kept out of training, for personalisation"
    )
    holdout: str = Field(
        "last",
        description="which clients are held out: 'last' (the last n_holdout_clients) or 'fold:K'"
        " (the K-th block of n_holdout_clients consecutive clients)",
    )
    label_map: Literal["shared", "per-client"] = Field(
        "shared",
        description="'per-client': every client sees the classes under its own seeded"
        " permutation of the labels (its own task); the metric is then held-out few-shot accuracy",
    )
    finetune_steps: int = Field(5, ge=0, description="local steps of few-shot personalisation")
    finetune_lr: float = Field(0.05, gt=0, description="plain-SGD rate of the personalisation")
    support_fraction: float = Field(
        0.2, gt=0, lt=1, description="share of a held-out client's data used to fine-tune"
    )
    device: DeviceName = "stm32h7a3"
    server_device: DeviceName = "a100"
    radio: RadioConfig = Field(default_factory=RadioConfig)
    engine: Engine = Engine.SIMULATION
    evaluate_on: EvalSplit = Field(
        "test", description="test split, or 'validation': the server's share of the training data"
    )
    accuracy_target: float | None = Field(
        None, gt=0, le=1, description="report the first round reaching this test accuracy"
    )
    client_arrays: str | None = Field(
        None,
        description="key of per-client arrays registered in this process (arrays.run_on_arrays):"
        " clients train on them instead of a partition of the dataset (engine inprocess only)",
    )

    @model_validator(mode="after")
    def _fits(self) -> FederatedConfig:
        if self.n_holdout_clients >= self.n_clients:
            raise ValueError(
                f"n_holdout_clients {self.n_holdout_clients} leaves no training client "
                f"of {self.n_clients}"
            )
        if self.client_arrays is not None and self.engine is not Engine.INPROCESS:
            raise ValueError(
                f"client_arrays live in this process: engine must be inprocess, not {self.engine}"
            )
        if self.client_arrays is not None and self.label_map != "shared":
            raise ValueError("label_map 'per-client' relabels a dataset partition; client_arrays"
                             " bring their own labels: use label_map 'shared'")  # fmt: skip
        if self.holdout != "last":
            parse_holdout(self.holdout, self.n_clients, self.n_holdout_clients)
        n_train = self.n_clients - self.n_holdout_clients
        if self.clients_per_round is not None and self.clients_per_round > n_train:
            raise ValueError(
                f"clients_per_round {self.clients_per_round} exceeds the {n_train} training clients"
            )
        return self

    @property
    def training_clients(self) -> list[int]:
        """Client ids that train: all but :attr:`holdout_clients`."""
        held = set(self.holdout_clients)
        return [c for c in range(self.n_clients) if c not in held]

    @property
    def holdout_clients(self) -> list[int]:
        """Client ids kept out of training (by ``holdout``: the last ones, or a fold)."""
        return parse_holdout(self.holdout, self.n_clients, self.n_holdout_clients)

    @property
    def n_selected(self) -> int:
        return self.clients_per_round or len(self.training_clients)

    def to_json(self) -> str:
        return self.model_dump_json()


def config_from_json(text: str) -> Any:
    """The framework config a JSON string (``FederatedConfig.to_json``) describes."""
    import json

    from tinylarge.integrate.federated.registry import config_class

    data = json.loads(text)
    return config_class(data.get("framework", "fl")).model_validate(data)
