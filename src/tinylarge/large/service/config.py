"""``ServiceConfig``: every knob of one LargeML service (models, auth, limits, batching)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tinylarge.errors import TinylargeError
from tinylarge.large.backends import BackendSpec


class ServiceConfig(BaseModel):
    """What ``tinylarge serve`` reads (YAML/JSON); ``secret_file`` holds the token key (hex)."""

    model_config = ConfigDict(extra="forbid")

    models: list[BackendSpec] = Field(min_length=1)
    secret_file: str | None = Field(None, description="HMAC key for device tokens (hex)")
    known_devices: list[str] | None = Field(
        None, description="enrolled device ids; None accepts any device with a valid token"
    )
    max_batch_size: int = Field(32, ge=1, description="samples per server batch")
    max_wait_s: float = Field(0.005, ge=0.0, le=1.0, description="batching wait bound")
    max_samples_per_request: int = Field(32, ge=1)
    max_body_bytes: int = Field(1 << 20, ge=1024, description="larger bodies get 413")
    torch_threads: int | None = Field(None, ge=1, description="torch intra-op threads")

    @model_validator(mode="after")
    def _consistent(self) -> ServiceConfig:
        if self.max_samples_per_request > self.max_batch_size:
            raise ValueError(
                f"max_samples_per_request ({self.max_samples_per_request}) exceeds "
                f"max_batch_size ({self.max_batch_size}): a request must fit one batch"
            )
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        return self


def load_config(path: str | Path) -> ServiceConfig:
    """Read a service config from YAML or JSON; errors name the file and the bad field."""
    path = Path(path)
    if not path.is_file():
        raise TinylargeError(f"service config {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
        return ServiceConfig.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise TinylargeError(f"invalid service config {str(path)!r}: {exc}") from None
