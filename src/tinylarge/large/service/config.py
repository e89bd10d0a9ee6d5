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
    registry_url: str | None = Field(
        None,
        description="device registry database (sqlite:///PATH or postgresql+psycopg://...); "
        "None: stateless tokens only, no registration, audit or rollouts",
    )
    admin_secret_file: str | None = Field(
        None, description="HMAC key for operator tokens (hex); None disables /v1/admin"
    )
    bundle_public_keys: list[str] = Field(
        default_factory=list, description="public.pem files whose bundles the service hands out"
    )
    token_ttl_s: float = Field(3600.0, gt=0.0, description="lifetime of tokens from /v1/auth")
    auth_skew_s: float = Field(300.0, gt=0.0, description="accepted clock skew of auth requests")
    revocation_refresh_s: float = Field(
        0.5, gt=0.0, description="how often revocations made by other hosts are picked up"
    )
    rate_limit_rps: float | None = Field(
        None, gt=0.0, description="sustained requests per second per device (None: no limit)"
    )
    rate_limit_burst: int = Field(20, ge=1, description="requests a device may send at once")
    rate_limit_delay_s: float = Field(
        1.0,
        ge=0.0,
        le=10.0,
        description="hold each 429 this long before sending it: a client flooding over N "
        "connections then gets at most N refusals per delay, each costing a sleeping task",
    )
    max_bundle_bytes: int = Field(8 << 20, ge=1024, description="largest bundle upload")
    tls_cert_file: str | None = Field(None, description="PEM certificate: serve HTTPS")
    tls_key_file: str | None = Field(None, description="PEM private key of tls_cert_file")

    @model_validator(mode="after")
    def _consistent(self) -> ServiceConfig:
        if self.max_samples_per_request > self.max_batch_size:
            raise ValueError(
                f"max_samples_per_request ({self.max_samples_per_request}) exceeds "
                f"max_batch_size ({self.max_batch_size}): a request must fit one batch"
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TLS needs both tls_cert_file and tls_key_file")
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
