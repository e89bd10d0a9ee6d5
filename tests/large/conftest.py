"""Shared fixtures: the committed digits teacher and int8 device models (``fixtures/``), and a real
uvicorn server on 127.0.0.1 serving the teacher for the whole session."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tinylarge.data import load_dataset
from tinylarge.large.backends import BackendSpec, TorchBackend
from tinylarge.large.service import ServiceConfig, create_app
from tinylarge.large.service.runner import serve_in_thread
from tinylarge.secure.tokens import TokenAuthority, issue_token, new_secret

FIXTURES = Path(__file__).parent / "fixtures"
DEVICE_TFLITE = FIXTURES / "digits_cnn_int8.tflite"
TEACHER_CHECKPOINT = FIXTURES / "digits_resnet.pt"
SPLIT_CUT = 2
SPLIT_TFLITE = FIXTURES / f"digits_resnet_cut{SPLIT_CUT}_int8.tflite"
MODEL = "digits"
MAX_BODY_BYTES = 64 * 1024
MAX_SAMPLES = 16


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits", seed=0)


@pytest.fixture(scope="session")
def teacher_checkpoint() -> Path:
    """A resnet2d (3 blocks) trained 2 epochs on digits (``fixtures/make_fixtures.py``)."""
    return TEACHER_CHECKPOINT


@pytest.fixture(scope="session")
def teacher(teacher_checkpoint) -> TorchBackend:
    return TorchBackend.from_checkpoint(teacher_checkpoint, name=MODEL)


@pytest.fixture(scope="session")
def authority() -> TokenAuthority:
    return TokenAuthority(new_secret())


@pytest.fixture(scope="session")
def service_config(teacher_checkpoint) -> ServiceConfig:
    return ServiceConfig(
        models=[BackendSpec(name=MODEL, path=str(teacher_checkpoint))],
        max_batch_size=32,
        max_wait_s=0.01,
        max_samples_per_request=MAX_SAMPLES,
        max_body_bytes=MAX_BODY_BYTES,
    )


@pytest.fixture(scope="session")
def server(service_config, authority, teacher) -> str:
    """Base URL of a real uvicorn server on loopback (stopped at the end of the session)."""
    app = create_app(service_config, authority=authority, backends={MODEL: teacher})
    with serve_in_thread(app) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def token(authority) -> str:
    return authority.issue("device-test")


@pytest.fixture(scope="session")
def expired_token(authority) -> str:
    return authority.issue("device-old", ttl_s=1.0, now_s=time.time() - 10.0)


@pytest.fixture(scope="session")
def foreign_token() -> str:
    return issue_token(new_secret(), "device-test", ttl_s=3600.0)


@pytest.fixture()
def samples(digits) -> np.ndarray:
    return digits.x_test[:8]


def _pg_bin(name: str) -> str:
    """A PostgreSQL server binary: Debian keeps them out of PATH in /usr/lib/postgresql/N/bin."""
    import glob
    import shutil

    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:  # setup.sh installs Debian's postgresql: its absence is a setup failure
        raise RuntimeError(f"PostgreSQL's {name} not found; run setup.sh (APT_PACKAGES)")
    return found


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> str:
    """A throwaway PostgreSQL cluster on a free loopback port, removed after the session.

    initdb refuses to run as root, so as root (CI) the cluster belongs to ``nobody``.
    """
    import os
    import shutil
    import subprocess
    import tempfile

    from tinylarge.large.service.runner import free_port

    root = Path(tempfile.mkdtemp(prefix="tinylarge-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        os.chown(root, 65534, 65534)  # nobody:nogroup
        as_user = ["runuser", "-u", "nobody", "--"]
    port = free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    subprocess.run(
        [*as_user, _pg_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"], **run
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [
            *as_user,
            _pg_bin("pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        **run,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
