"""The one shape of every integration pattern, down, up or federated:
``run_<pattern>(config, *, dataset, cache, out_dir, progress) -> <Pattern>Result``.

The frozen pydantic config holds everything the run needs (dataset, model paths, device, links,
seeds) and is validated before any heavy work; the keywords (:class:`PatternIO`) say only where
things come from and go; the result carries its ``config``, a ``summary`` (units in the key names)
and ``to_dict()``. The scenario runner can therefore drive any pattern the same way.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

from pydantic import AfterValidator, BaseModel
from torch import nn

from tinylarge.errors import TinylargeError
from tinylarge.net import list_links, load_link
from tinylarge.tiny.devices import load_device
from tinylarge.train import ArtifactCache


@dataclass(kw_only=True)
class PatternResult:
    """Base of every pattern's result: its config and its headline numbers."""

    config: BaseModel
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "config": self.config.model_dump(mode="json")}


class PatternIO(TypedDict, total=False):
    """The keywords of every ``run_<pattern>``: a loaded ``dataset`` to use instead of the
    config's (or the checkpoint's), the ``cache`` of trained models (default root), ``out_dir``
    for models, graphs and plots (default: none, or a temporary folder), ``progress`` bars."""

    dataset: Any
    cache: ArtifactCache | None
    out_dir: str | Path | None
    progress: bool


def _checked(io: Mapping[str, Any]) -> Mapping[str, Any]:
    unknown = sorted(set(io) - set(PatternIO.__annotations__))
    if unknown:
        valid = ", ".join(PatternIO.__annotations__)
        raise TypeError(f"unknown keyword argument {unknown[0]!r}; valid: {valid}")
    return io


def load_pattern_dataset(name: str, dataset: Any = None, seed: int = 0) -> Any:
    """``dataset`` when one is passed in, else the bundled dataset ``name`` split with ``seed``."""
    if dataset is not None:
        return dataset
    from tinylarge.data import load_dataset

    return load_dataset(name, seed=seed)


@contextlib.contextmanager
def workdir(out_dir: str | Path | None) -> Iterator[Path]:
    """``out_dir`` (created), or a temporary folder removed when the block ends."""
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        yield Path(out_dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def pattern_io(config: Any, io: Mapping[str, Any]) -> tuple[Any, ArtifactCache, Path | None, bool]:
    """A downward pattern's inputs: the dataset (``config.dataset`` split by
    ``config.split_seed``, unless one is passed in), the cache, the created output folder (or
    ``None``) and the progress flag."""
    io = _checked(io)
    out = None if io.get("out_dir") is None else Path(io["out_dir"])
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    ds = load_pattern_dataset(config.dataset, io.get("dataset"), config.split_seed)
    cache = io.get("cache")
    return ds, cache if cache is not None else ArtifactCache(), out, bool(io.get("progress"))


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise TinylargeError(f"file {str(path)!r} does not exist")
    return path


# Config field types checked when the config is built, before any heavy work; an unknown name
# raises UnknownNameError (not a ValueError, so pydantic passes it on) listing the valid ones.
DeviceName = Annotated[str, AfterValidator(lambda name: load_device(name).name)]
LinkName = Annotated[str, AfterValidator(lambda name: load_link(name).name)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
all_links = list_links


def checkpoint_io(path: Path, config: Any, io: Mapping[str, Any]) -> tuple[nn.Module, Any]:
    """An upward pattern's inputs: the checkpoint's model and the dataset it was trained on
    (``config.dataset`` if set), split as it was, unless a dataset is passed in."""
    from tinylarge.models import load_checkpoint

    ckpt = load_checkpoint(path)
    meta = ckpt.meta
    split_seed = int(meta.get("split_seed", meta.get("seed")) or 0)
    name = config.dataset or meta["dataset"]
    return ckpt.model, load_pattern_dataset(name, _checked(io).get("dataset"), split_seed)
