"""``tinylarge keys`` / ``bundle`` as a user runs them: JSON on stdout, exit 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = Path(__file__).parents[1] / "large" / "fixtures" / "digits_cnn_int8.tflite"


def tinylarge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bundle")
    assert tinylarge("keys", "new", "k", "--json", cwd=d).returncode == 0
    (d / "c").mkdir()
    (d / "c" / "tl_model.c").write_text("int tl_model_invoke(void) { return 0; }\n")
    r = tinylarge(
        "bundle",
        "sign",
        str(MODEL),
        "--key",
        "k/private.pem",
        "--version",
        "3",
        "--target",
        "nrf52840",
        "--c",
        "c",
        "-o",
        "b.zip",
        "--json",
        cwd=d,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["files"] == ["c/tl_model.c", "model.tflite"] and out["version"] == 3
    return d


def verify(d: Path, *extra: str) -> tuple[int, dict]:
    r = tinylarge(
        "bundle", "verify", "b.zip", "--public-key", "k/public.pem", *extra, "--json", cwd=d
    )
    return r.returncode, json.loads(r.stdout)


def test_keys_new_writes_both_pem_files(signed):
    assert (signed / "k" / "private.pem").read_text().startswith("-----BEGIN PRIVATE KEY")
    assert (signed / "k" / "public.pem").read_text().startswith("-----BEGIN PUBLIC KEY")


def test_verify_accepts_and_refuses_with_the_contract_keys(signed):
    code, out = verify(signed, "--target", "nrf52840", "--installed-version", "3")
    assert code == 0 and out["ok"] is True and out["reason"] is None and out["version"] == 3
    code, out = verify(signed, "--target", "esp32s3")
    assert (code, out["ok"], out["reason"], out["version"]) == (1, False, "wrong_target", None)
    code, out = verify(signed, "--installed-version", "4")
    assert (code, out["reason"]) == (1, "rollback")


def test_verify_names_tampering(signed):
    data = bytearray((signed / "b.zip").read_bytes())
    data[len(data) // 2] ^= 0x40
    (signed / "bad.zip").write_bytes(bytes(data))
    r = tinylarge(
        "bundle", "verify", "bad.zip", "--public-key", "k/public.pem", "--json", cwd=signed
    )
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["ok"] is False and out["reason"] in {"tampered", "malformed"}


def test_an_unknown_key_is_refused_not_a_usage_error(signed):
    assert tinylarge("keys", "new", "other", cwd=signed).returncode == 0
    r = tinylarge(
        "bundle", "verify", "b.zip", "--public-key", "other/public.pem", "--json", cwd=signed
    )
    assert r.returncode == 1 and json.loads(r.stdout)["reason"] == "unknown_key"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bundle", "verify", "nope.zip", "--public-key", "k/public.pem"], "'nope.zip' does not"),
        (["bundle", "verify", "b.zip", "--public-key", "k/private.pem"], "not a PEM public key"),
        (
            [
                "bundle",
                "sign",
                str(MODEL),
                "--key",
                "k/private.pem",
                "--version",
                "1",
                "--target",
                "nrf5",
                "-o",
                "x.zip",
            ],
            "unknown device 'nrf5'; valid: ",
        ),
        (
            [
                "bundle",
                "sign",
                "no.tflite",
                "--key",
                "k/private.pem",
                "--version",
                "1",
                "--target",
                "nrf52840",
                "-o",
                "x.zip",
            ],
            "File 'no.tflite' does not exist",
        ),
        (["keys", "new", "k"], "refusing to replace a signing key"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(signed, args, message):
    r = tinylarge(*args, "--json", cwd=signed)
    assert r.returncode == 2 and r.stdout == ""
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (signed / "x.zip").exists()
