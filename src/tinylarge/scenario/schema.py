"""The scenario schema (pydantic), loaded from YAML; built-ins live in ``scenarios/*.yaml``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from tinylarge.errors import TinylargeError
from tinylarge.models import ModelSpec
from tinylarge.scenario.sections import (
    DeviceGroup,
    DriftConfig,
    IntentAt,
    LoopConfig,
    PolicyConfig,
    SecurityConfig,
)
from tinylarge.scenario.students import DeviceStudent
from tinylarge.train import TrainConfig


class RoleConfig(BaseModel):
    """A model in the scenario (teacher or student): its architecture and how to train it.

    ``None`` means the tuned preset for the scenario's dataset.
    """

    model_config = ConfigDict(extra="forbid")

    spec: ModelSpec | None = None
    train: TrainConfig | None = None


class Scenario(BaseModel):
    """One experiment: train a teacher and a student, then (``deploy``) int8 + profile + C code +
    cascade, then (``loop``) the closed loop over simulated time on ``fleet`` with ``policy``,
    ``security`` and ``drift``, and the report.

    ``students`` gives device types of the fleet their own student; the others run ``student``::

        students:
          stm32h7a3: {spec: {name: cnn2d, width: 16, depth: 3}}   # a stated architecture
          esp32s3:                                                # the best one within a budget
            search: {budget: {latency_s: 0.02}, space: {widths: [8, 16], depths: [2]}}

    Each distinct student is trained, quantized, profiled, turned into C and gets its own
    calibrated cascade threshold, model versions, signed bundles and rollouts in the loop.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field("demo", pattern=r"^[A-Za-z0-9_.-]+$", description="run folder prefix")
    description: str = ""
    dataset: str = "mnist5k"
    seed: int = Field(0, ge=0, description="split, init and training seed")
    teacher: RoleConfig = RoleConfig()
    student: RoleConfig = RoleConfig()
    device: str = Field("nrf52840", description="catalog MCU the student is costed and cascaded on")
    deploy: bool = Field(
        True, description="after training: int8, profile, C code, cascade (False: train only)"
    )
    fleet: list[DeviceGroup] = Field(default_factory=lambda: [DeviceGroup()], min_length=1)
    students: dict[str, DeviceStudent] = Field(
        default_factory=dict,
        description="device type of the fleet -> its own student (spec/train, or a search budget)",
    )
    policy: PolicyConfig = PolicyConfig()
    loop: LoopConfig | None = Field(
        LoopConfig(), description="the closed loop after deploy (null: stop after the cascade)"
    )
    security: SecurityConfig = SecurityConfig()
    drift: DriftConfig = DriftConfig()
    intents: list[IntentAt] = Field(default_factory=list)
    runs_dir: Path = Path("runs")
    cache_dir: Path | None = Field(
        None, description="trained-model cache (default ~/.cache/tinylarge)"
    )

    @field_validator("device", "dataset")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        from tinylarge.data.registry import dataset_names
        from tinylarge.tiny.devices import list_devices

        valid = list_devices() if info.field_name == "device" else dataset_names()
        if name not in valid:
            raise ValueError(f"unknown {info.field_name} {name!r}; valid: {', '.join(valid)}")
        return name

    @field_validator("students")
    @classmethod
    def _fleet_types(cls, students: dict, info: ValidationInfo) -> dict:
        fleet = info.data.get("fleet")
        if fleet is None:  # the fleet itself is invalid: that error is reported
            return students
        valid = list(dict.fromkeys(g.device for g in fleet))
        for name in students:
            if name not in valid:
                raise ValueError(
                    f"{name!r} is not a device type of the fleet; valid: {', '.join(valid)}"
                )
        return students


def _reason(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the field at ``loc`` (list indices skipped), if any."""
    import typing

    model: type[BaseModel] = Scenario
    keyed = False  # the previous field is a mapping: this part is one of its keys
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        keyed = typing.get_origin(field.annotation) is dict
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        candidates += [a for c in candidates for a in typing.get_args(c)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _problem(e: dict) -> str:
    where = ".".join(str(p) for p in e["loc"]) or "<root>"
    if e["type"] == "extra_forbidden":
        owner = _model_at(tuple(e["loc"][:-1]))
        valid = f"; valid: {', '.join(owner.model_fields)}" if owner is not None else ""
        return f"{where}: unknown key {str(e['loc'][-1])!r}{valid}"
    return f"{where}: {_reason(e['msg'])}"


def _validate(data: object, origin: str) -> Scenario:
    try:
        return Scenario.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise TinylargeError(f"invalid scenario {origin}: {problems}") from None
    except TinylargeError as exc:  # a registry lookup inside a nested validator
        raise TinylargeError(f"invalid scenario {origin}: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; errors name the file, the field and the problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TinylargeError(f"cannot read scenario {str(path)!r}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TinylargeError(f"scenario {str(path)!r} is not valid YAML: {exc}") from None
    return _validate(data, repr(str(path)))


def with_overrides(scenario: Scenario, **overrides: object) -> Scenario:
    """``scenario`` with the non-``None`` ``overrides`` applied, validated like a YAML file."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    return _validate({**scenario.model_dump(exclude_unset=True), **changes}, "(with overrides)")


def default_scenario() -> Scenario:
    """The embedded default scenario that ``tinylarge demo`` runs (``smart-camera``)."""
    return builtin_scenario("smart-camera")


def builtin_names() -> list[str]:
    """The scenarios shipped in the package (``scenarios/*.yaml``), sorted."""
    folder = resources.files("tinylarge.scenario").joinpath("scenarios")
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def builtin_scenario(name: str) -> Scenario:
    """A built-in scenario by name; an unknown name lists the valid ones."""
    valid = builtin_names()
    if name not in valid:
        raise TinylargeError(f"unknown scenario {name!r}; valid: {', '.join(valid)}")
    text = resources.files("tinylarge.scenario").joinpath(f"scenarios/{name}.yaml").read_text()
    return _validate(yaml.safe_load(text), f"{name}.yaml (built in)")


def scenario_from(source: str | Path) -> Scenario:
    """A YAML file's scenario, or the built-in one ``source`` names (when no such file exists)."""
    if not Path(source).exists() and str(source) in builtin_names():
        return builtin_scenario(str(source))
    return load_scenario(source)
