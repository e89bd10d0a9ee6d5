"""Option declarations the commands share, checked while the command line is parsed.

Defaults and bounds come from the config class that uses the value (``config_option``), so they
live in one place and ``--help`` shows them. Value types check what the library would only find
out after loading models and data: registry names, model files by content, comma lists. A bad
value is then a one-line error naming it and what is valid, exit 2, before any work starts
(``tinylarge.cli.main`` prints it). Tests read these types to generate bad values for every option.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import click
import typer
from pydantic import BaseModel

# every seed reaches numpy's Generator, which takes 0 <= seed < 2**128; 2**32 keeps torch happy too
SEED_TYPE = click.IntRange(0, 2**32 - 1)


class Name(click.ParamType):
    """A name from a registry (``module:attribute``, a list or a function returning one), e.g.
    ``Name("device", "tinylarge.tiny.devices:list_devices", extra=("all",))``. With ``many``
    the value is a comma list, kept as the string the library takes."""

    def __init__(self, kind: str, names: str, extra: tuple[str, ...] = (), many: bool = False):
        self.kind, self.names, self.extra, self.many = kind, names, extra, many
        self.name = kind

    def valid(self) -> list[str]:
        module, _, attr = self.names.partition(":")
        names = getattr(import_module(module), attr)
        return [*self.extra, *(names() if callable(names) else names)]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        valid = self.valid()
        for item in [v.strip() for v in value.split(",")] if self.many else [value]:
            if item not in valid:
                self.fail(f"unknown {self.kind} {item!r}; valid: {', '.join(valid)}", param, ctx)
        return value


class ModelFile(click.Path):
    """An existing model file, recognised by its first bytes rather than its name."""

    MAGIC = {  # kind: (offset, bytes, what it is)
        "checkpoint": (0, b"PK\x03\x04", "a tinylarge checkpoint (torch.save zip)"),
        "tflite": (4, b"TFL3", "a .tflite flatbuffer"),
    }

    def __init__(self, kind: str) -> None:
        super().__init__(exists=True, dir_okay=False, path_type=Path)
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        offset, magic, what = self.MAGIC[self.kind]
        with open(path, "rb") as f:
            if f.read(offset + len(magic))[offset:] != magic:
                self.fail(f"{str(value)!r} is not {what}", param, ctx)
        return path


class CommaList(click.ParamType):
    """``"0,1,2"`` -> ``[0, 1, 2]``, each item converted (and range-checked) by ``item``. Declare
    the parameter ``str``: typer reads a ``list`` annotation as a repeatable option."""

    def __init__(self, item: click.ParamType) -> None:
        self.item, self.name = item, f"{item.name},..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, list):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        if not items:
            self.fail(f"{value!r} is empty; give a comma-separated list", param, ctx)
        return [self.item.convert(v, param, ctx) for v in items]


class Threshold(click.FloatRange):
    """A device gate threshold (>= 0): a number, or a cascade run whose calibrated max-probability
    threshold the devices should apply: its run folder, its ``metrics.json``, a saved ``cascade
    --json`` output or a scenario run's ``metrics.json`` (its ``cascade`` entry)."""

    name = "threshold|run"

    def __init__(self) -> None:
        super().__init__(min=0.0)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            float(value)
        except (TypeError, ValueError):
            return super().convert(self._from_run(str(value), param, ctx), param, ctx)
        return super().convert(value, param, ctx)

    def _from_run(self, value: str, param: click.Parameter | None, ctx: click.Context | None):
        import json

        path = Path(value) / "metrics.json" if Path(value).is_dir() else Path(value)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            self.fail(
                f"{value!r} is neither a number nor a cascade run ({exc.strerror}); give a"
                " threshold or a `tinylarge cascade` run folder / metrics.json / --json output",
                param,
                ctx,
            )
        except ValueError:
            self.fail(f"{str(path)!r} is not JSON (a cascade run's metrics.json?)", param, ctx)
        point = data.get("cascade", data) if isinstance(data, dict) else None
        if not isinstance(point, dict) or not isinstance(point.get("threshold"), int | float):
            self.fail(f"{str(path)!r} holds no cascade threshold", param, ctx)
        gate = point.get("gate", "max-prob")
        if gate != "max-prob":
            self.fail(
                f"{str(path)!r} was calibrated for the {gate!r} gate; devices here gate on"
                " max-prob (re-run the cascade with --gate max-prob)",
                param,
                ctx,
            )
        return float(point["threshold"])


class Url(click.ParamType):
    """An ``http(s)://host[:port]`` service address."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.fail(f"{value!r} is not an http(s)://host[:port] URL", param, ctx)
        return value


THRESHOLD = Threshold()
THRESHOLD_HELP = (
    "Offload when the max probability is below this; or a cascade run (folder, metrics.json or"
    " --json output) whose certified threshold to apply."
)
DATASET = Name("dataset", "tinylarge.data.registry:dataset_names")
DEVICE = Name("device", "tinylarge.tiny.devices:list_devices")
FAMILY = Name("model family", "tinylarge.models.registry:list_models")
LINKS = CommaList(Name("link", "tinylarge.net:list_links"))
CHECKPOINT, TFLITE = ModelFile("checkpoint"), ModelFile("tflite")
OUT_DIR = click.Path(file_okay=False, path_type=Path)
OUT_FILE = click.Path(dir_okay=False, path_type=Path)

RUNS_OPTION = typer.Option(
    Path("runs"), "--runs-dir", click_type=OUT_DIR, help="Folder of run folders (<name>-<time>/)."
)
CACHE_HELP = "Trained-model cache (default: ~/.cache/tinylarge)."
CACHE_OPTION = typer.Option(None, "--cache-dir", click_type=OUT_DIR, help=CACHE_HELP)
LINKS_OPTION = typer.Option(
    None, "--links", click_type=LINKS, help="Comma list of uplinks to cost (default: all)."
)


def dataset_option(default: str | None, help: str) -> Any:
    return typer.Option(default, "--dataset", "-d", click_type=DATASET, help=help)


def out_option(default: Path | None, help: str, kind: click.Path = OUT_DIR) -> Any:
    return typer.Option(default, "--out", "-o", click_type=kind, help=help)


def model_argument(kind: ModelFile, help: str) -> Any:
    return typer.Argument(..., click_type=kind, help=help)


def config_option(source: Any, field: str, *flags: str, **kw: Any) -> Any:
    """A ``typer.Option`` for a field of a pydantic config class (its default, its bounds as a
    click range, a list as a comma list, its description as help) or for a parameter of a library
    function (its default), unless ``kw`` says otherwise."""
    if not isinstance(source, type):
        default = inspect.signature(source).parameters[field].default
        return typer.Option(kw.pop("default", default), *flags, **kw)
    info = source.model_fields[field]
    bounds = {k: getattr(m, k) for m in info.metadata for k in ("ge", "gt", "le", "lt")
              if getattr(m, k, None) is not None}  # fmt: skip
    kind = _inner(info.annotation)
    click_type = None
    if kind in (int, float) and bounds:
        lo, hi = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
        rng = click.IntRange if kind is int else click.FloatRange
        click_type = rng(lo, hi, min_open="gt" in bounds, max_open="lt" in bounds)
    default = info.get_default(call_default_factory=True)
    if isinstance(default, list):
        item = click_type or {int: click.INT, float: click.FLOAT}.get(kind, click.STRING)
        click_type, default = CommaList(item), ",".join(map(str, default))
    kw.setdefault("click_type", click_type)
    if "help" not in kw and info.description:
        kw["help"] = info.description[0].upper() + info.description[1:] + "."
    return typer.Option(kw.pop("default", default), *flags, **kw)


def _inner(annotation: Any) -> Any:
    """``int | None`` -> ``int``; ``list[float]`` -> ``float``; anything else unchanged."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    return _inner(args[0]) if len(args) == 1 else annotation


def build_config(config: type[BaseModel], **values: Any) -> Any:
    """``config(**values)`` without the ``None`` ones (the config's defaults stand). A
    ``ValidationError`` reaches ``tinylarge.cli.main``, which names the option it came from."""
    return config(**{k: v for k, v in values.items() if v is not None})
