"""``tinylarge serve | token | device | fleet``: the LargeML service, device tokens, live agents.

Each command parses its options, builds a config and calls one library function in
``tinylarge.large``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, finish_run, table
from tinylarge.cli.params import (
    CHECKPOINT,
    DEVICE,
    RUNS_OPTION,
    TFLITE,
    THRESHOLD,
    THRESHOLD_HELP,
    Url,
    config_option,
    dataset_option,
)
from tinylarge.large.fleet import FleetConfig
from tinylarge.large.service.config import ServiceConfig

SECRET_HELP = "Token key file (hex), as `tinylarge serve` writes it."
CUT_HELP = "Split mode: --tflite is blocks[:cut], the service runs the rest (default: off)."


def serve(
    config: Path | None = typer.Option(
        None,
        "--config",
        exists=True,
        dir_okay=False,
        help="Service config, YAML/JSON (default: one built from --checkpoint).",
    ),
    checkpoint: list[Path] = typer.Option(
        [],
        "--checkpoint",
        click_type=CHECKPOINT,
        help="Serve this tinylarge checkpoint (repeatable; model name = file stem).",
    ),
    secret_file: Path = typer.Option(
        Path("service-secret.hex"),
        "--secret-file",
        dir_okay=False,
        help="Token key (hex); created if missing. Issue tokens with `tinylarge token`.",
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = config_option(FleetConfig, "workers", "--workers"),
    max_batch_size: int = config_option(ServiceConfig, "max_batch_size", "--max-batch-size"),
    max_wait_s: float = config_option(
        ServiceConfig, "max_wait_s", "--max-wait-s", help="Batching wait bound, seconds."
    ),
    registry: str | None = typer.Option(
        None,
        "--registry",
        help="Device registry database: sqlite:///PATH, postgresql+psycopg://USER@HOST:PORT/DB, "
        "or 'none' (stateless tokens only) (default: tinylarge-registry.db, SQLite, beside "
        "--secret-file).",
    ),
    admin_secret_file: Path | None = typer.Option(
        None,
        "--admin-secret-file",
        dir_okay=False,
        help="Operator key (hex), created if missing (default: admin-secret.hex beside "
        "--secret-file). `tinylarge token operator --secret-file admin-secret.hex` issues an "
        "operator token.",
    ),
    bundle_key: list[Path] = typer.Option(
        [],
        "--bundle-key",
        exists=True,
        dir_okay=False,
        help="public.pem whose signed bundles the service accepts (repeatable; default: none).",
    ),
    tls_cert: Path | None = typer.Option(
        None,
        "--tls-cert",
        exists=True,
        dir_okay=False,
        help="PEM certificate: serve HTTPS (default: HTTP).",
    ),
    tls_key: Path | None = typer.Option(
        None,
        "--tls-key",
        exists=True,
        dir_okay=False,
        help="PEM key of --tls-cert (default: none).",
    ),
    rate_limit: float | None = typer.Option(
        None, "--rate-limit", min=0.001, help="Requests/s per device (default: unlimited)."
    ),
    rate_burst: int = typer.Option(20, "--rate-burst", min=1, help="Burst per device, requests."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Run the LargeML inference service (FastAPI/uvicorn) until interrupted.

    With --json, one JSON object (url, workers, models) is printed once the models are loaded.

    Endpoints: POST /v1/models/{name}/infer, POST /v1/models/{name}/split/{cut},
    GET /v1/models, GET /health, GET /metrics; OpenAPI at /docs and /openapi.json.
    """
    import uvicorn

    from tinylarge.large.backends import BackendSpec, load_backend
    from tinylarge.large.service.config import load_config
    from tinylarge.large.service.main import CONFIG_ENV, create_app
    from tinylarge.secure.tokens import write_secret

    if config is not None:
        cfg = load_config(config)
    elif checkpoint:
        cfg = ServiceConfig(
            models=[BackendSpec(name=p.stem, path=str(p.resolve())) for p in checkpoint],
            max_batch_size=max_batch_size,
            max_wait_s=max_wait_s,
            max_samples_per_request=min(32, max_batch_size),
        )
    else:
        from tinylarge.errors import TinylargeError

        raise TinylargeError("give --config FILE or at least one --checkpoint MODEL.pt")
    if cfg.secret_file is None:
        if not secret_file.exists():
            write_secret(secret_file)
            console.print(f"created token key {secret_file} (mode 600)")
        cfg = cfg.model_copy(update={"secret_file": str(secret_file.resolve())})
    if config is None:  # the command line describes the whole service
        here = secret_file.resolve().parent
        registry = registry or f"sqlite:///{here / 'tinylarge-registry.db'}"
        admin_secret_file = admin_secret_file or here / "admin-secret.hex"
        cfg = cfg.model_copy(
            update=_security_options(
                registry,
                admin_secret_file,
                bundle_key,
                tls_cert,
                tls_key,
                rate_limit,
                rate_burst,
            )
        )
        cfg = ServiceConfig.model_validate(cfg.model_dump())
    # load every model here first: a bad checkpoint is a clear error, not a failed startup
    backends = {spec.name: load_backend(spec) for spec in cfg.models}
    if workers == 1:
        target = create_app(cfg, backends=backends)
    else:
        for backend in backends.values():
            backend.close()
        # uvicorn starts the workers itself: they rebuild the app from the config JSON
        os.environ[CONFIG_ENV] = cfg.model_dump_json()
        target = "tinylarge.large.service.main:app_from_env"
    url = f"{'https' if cfg.tls_cert_file else 'http'}://{host}:{port}"
    console.print(f"serving {sorted(backends)} at {url} ({workers} worker(s)); Ctrl-C stops")
    if json_out:  # printed before serving: the server runs until it is interrupted
        emit_json({"url": url, "workers": workers, "models": sorted(backends)})
    uvicorn.run(
        target,
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        ws="none",
        ssl_certfile=cfg.tls_cert_file,
        ssl_keyfile=cfg.tls_key_file,
    )


def _security_options(
    registry: str,
    admin_secret_file: Path,
    bundle_key: list[Path],
    tls_cert: Path | None,
    tls_key: Path | None,
    rate_limit: float | None,
    rate_burst: int,
) -> dict:
    """The registry / admin / TLS / rate-limit part of a service config from ``serve`` options."""
    from tinylarge.errors import TinylargeError
    from tinylarge.secure.keys import load_public_key
    from tinylarge.secure.tokens import write_secret

    if (tls_cert is None) != (tls_key is None):
        raise TinylargeError("TLS needs both --tls-cert and --tls-key")
    for path in [p for p in (tls_cert, tls_key) if p is not None]:
        if not path.is_file():
            raise TinylargeError(f"TLS file {str(path)!r} does not exist")
    for pem in bundle_key:
        load_public_key(pem)  # a clear error now rather than at startup
    if registry != "none":
        from tinylarge.large.service.registry import make_engine

        make_engine(registry).dispose()  # an unsupported URL names itself and the valid forms
    if not admin_secret_file.exists():
        write_secret(admin_secret_file)
        console.print(f"created operator key {admin_secret_file} (mode 600)")
    return {
        "registry_url": None if registry == "none" else registry,
        "admin_secret_file": str(admin_secret_file.resolve()),
        "bundle_public_keys": [str(p.resolve()) for p in bundle_key],
        "tls_cert_file": None if tls_cert is None else str(tls_cert.resolve()),
        "tls_key_file": None if tls_key is None else str(tls_key.resolve()),
        "rate_limit_rps": rate_limit,
        "rate_limit_burst": rate_burst,
    }


def token(
    device_id: str = typer.Argument(..., help="Device id (A-Z a-z 0-9 _ -, up to 64)."),
    secret_file: Path = typer.Option(
        Path("service-secret.hex"), "--secret-file", exists=True, dir_okay=False, help=SECRET_HELP
    ),
    ttl_s: float = typer.Option(86400.0, "--ttl-s", min=1.0, help="Lifetime, seconds."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Issue a device token signed with the service's key (HMAC-SHA256, with expiry)."""
    from tinylarge.secure.tokens import issue_token, read_secret, verify_token

    secret = read_secret(secret_file)
    tok = issue_token(secret, device_id, ttl_s)
    claims = verify_token(secret, tok)
    if json_out:
        emit_json({"device_id": device_id, "token": tok, "expires_at_s": claims.expires_at_s})
    else:
        typer.echo(tok)


def device(
    tflite: Path = typer.Option(
        ..., "--tflite", click_type=TFLITE, help="The device's int8 .tflite (runs in TFLM)."
    ),
    url: str = typer.Option(
        "http://127.0.0.1:8000", "--url", click_type=Url(), help="Service base URL."
    ),
    device_token: str | None = typer.Option(
        None,
        "--token",
        help="This device's token (default: none; or authenticate with --device-key).",
    ),
    model: str = typer.Option(..., "--model", help="Service model to offload to."),
    dataset: str = dataset_option("digits", "Dataset whose test split the device plays."),
    n_requests: int = typer.Option(100, "--requests", min=1, help="Samples to play."),
    offset: int = typer.Option(0, "--offset", min=0, help="First test sample to play."),
    threshold: float = config_option(
        FleetConfig, "threshold", "--threshold", click_type=THRESHOLD, help=THRESHOLD_HELP
    ),
    device_id: str = typer.Option("device-0", "--device-id", help="Id in the token."),
    cut: int | None = config_option(FleetConfig, "cut", "--cut", help=CUT_HELP),
    device_key: Path | None = typer.Option(
        None,
        "--device-key",
        exists=True,
        dir_okay=False,
        help="This device's Ed25519 private.pem, its registered identity (default: none).",
    ),
    trust: list[Path] = typer.Option(
        [],
        "--trust",
        exists=True,
        dir_okay=False,
        help="Bundle signer public.pem: follow the service's rollout (repeatable; default: none).",
    ),
    target: str | None = typer.Option(
        None, "--target", click_type=DEVICE, help="This device's kind, for OTA (default: none)."
    ),
    ca: Path | None = typer.Option(
        None,
        "--ca",
        exists=True,
        dir_okay=False,
        help="CA / self-signed certificate of an https --url (default: the system's).",
    ),  # fmt: skip
    json_out: bool = JSON_OPTION,
) -> None:
    """Play one live device: TFLM inference, max-probability gate, HTTP offload of the rest.

    With --cut K it does split computing: the int8 activation after block K goes to the service.
    With --device-key it authenticates with its registered key; adding --trust and --target it
    also follows the service's staged rollout (verify, self-test, trial, confirm or revert).
    """
    import numpy as np

    from tinylarge.data import load_dataset
    from tinylarge.errors import TinylargeError
    from tinylarge.large.ota import play_live_device
    from tinylarge.secure.keys import load_private_key, load_public_key
    from tinylarge.tiny.runtime import TflmRuntime

    if device_token is None and device_key is None:
        raise TinylargeError("give --token TOKEN or --device-key private.pem")
    if trust and (device_key is None or target is None):
        raise TinylargeError("following a rollout (--trust) needs --device-key and --target")
    ds = load_dataset(dataset)
    runtime = TflmRuntime(tflite)
    idx = (offset + np.arange(n_requests)) % len(ds.y_test)
    summary = asyncio.run(
        play_live_device(
            url,
            runtime,
            ds.x_test[idx],
            ds.y_test[idx],
            model=model,
            device_id=device_id,
            threshold=threshold,
            cut=cut,
            token=device_token,
            key=None if device_key is None else load_private_key(device_key),
            trusted=[load_public_key(p) for p in trust],
            target=target,
            probe=(ds.x_test[-100:], ds.y_test[-100:]),
            verify=True if ca is None else str(ca),
        )
    )
    if json_out:
        emit_json(summary)
        return
    rows = [
        [k, v if not isinstance(v, dict) else f"p50 {v['p50']:.4g} / p99 {v['p99']:.4g}"]
        for k, v in summary.items()
    ]
    console.print(table(f"device {device_id}", ["name", "value"], rows))


def fleet(
    checkpoint: Path = typer.Option(
        ..., "--checkpoint", click_type=CHECKPOINT, help="LargeML checkpoint to serve."
    ),
    tflite: Path = typer.Option(..., "--tflite", click_type=TFLITE, help="The devices' .tflite."),
    dataset: str | None = dataset_option(None, "Samples to play (default: the checkpoint's)."),
    agents: int = config_option(FleetConfig, "n_agents", "--agents", help="Live device agents."),
    n_requests: int = config_option(FleetConfig, "n_requests", "--requests"),
    threshold: float = config_option(
        FleetConfig, "threshold", "--threshold", click_type=THRESHOLD, help=THRESHOLD_HELP
    ),
    cut: int | None = config_option(FleetConfig, "cut", "--cut", help=CUT_HELP),
    workers: int = config_option(FleetConfig, "workers", "--workers"),
    max_batch_size: int = config_option(
        FleetConfig, "max_batch_size", "--max-batch-size", help="Samples per server batch."
    ),
    max_wait_s: float = config_option(
        FleetConfig, "max_wait_s", "--max-wait-s", help="Batching wait bound, seconds."
    ),
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Start one service and K live agents on loopback; report throughput, p50/p99, failures.

    Writes runs/fleet-<timestamp>/metrics.json."""
    from tinylarge.large.fleet import run_fleet
    from tinylarge.scenario.rundir import run_folder

    config = FleetConfig(
        checkpoint=str(checkpoint), tflite=str(tflite), dataset=dataset, n_agents=agents,
        n_requests=n_requests, threshold=threshold, cut=cut, workers=workers,
        max_batch_size=max_batch_size, max_wait_s=max_wait_s,
    )  # fmt: skip
    with run_folder(runs_dir, "fleet") as run_dir:
        result = run_fleet(config)
    if not json_out:
        _print_fleet(result)
    finish_run(run_dir, {"command": "fleet", **result.to_dict()}, json_out)


def _print_fleet(result) -> None:
    rows = [
        ["agents", result.n_agents],
        ["requests", result.n_requests],
        ["offloaded", f"{result.n_offloaded} ({result.offload_fraction:.1%})"],
        ["failed", result.n_failed],
        ["throughput (req/s)", result.throughput_rps],
        ["latency p50 / p99 (ms)", _ms(result.latency_s)],
        ["offload latency p50 / p99 (ms)", _ms(result.offload_latency_s)],
        ["accuracy (device only)", f"{result.accuracy:.4f} ({result.device_accuracy:.4f})"],
        ["server batch size mean / max", _batch(result.server)],
    ]
    console.print(table("fleet on loopback", ["name", "value"], rows))


def _ms(q: dict) -> str:
    return f"{q['p50'] * 1e3:.2f} / {q['p99'] * 1e3:.2f}"


def _batch(server: dict) -> str:
    b = server.get("batch_size", {})
    return f"{b.get('mean', 0):.2f} / {b.get('max', 0):.0f}"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("token")(token)
    app.command("device")(device)
    app.command("fleet")(fleet)
