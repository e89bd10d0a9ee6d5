"""Ed25519 signing keys for model bundles: create, store as PEM, load, name by key id.

A key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key, so a device can
name the keys it trusts without holding certificates (as TUF's key ids do, over the public key).
Private keys are written unencrypted with mode 600: they belong on the build host, never on a
device. Every load error names the file and says what was expected.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tinylarge.errors import TinylargeError

PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"
KEY_ID_HEX_DIGITS = 16


class KeyFileError(TinylargeError):
    """A key file that is missing, unreadable, or not an Ed25519 key."""


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    """The 32-byte RFC 8032 encoding of ``key``."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short stable name for ``key``: hex SHA-256 of its raw bytes, first 16 digits."""
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()[:KEY_ID_HEX_DIGITS]


def public_key_to_b64(key: Ed25519PublicKey) -> str:
    """Base64 of the raw public key (how a bundle carries a key it introduces)."""
    return base64.b64encode(raw_public_bytes(key)).decode("ascii")


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """The key :func:`public_key_to_b64` wrote; ``ValueError`` if it is not 32 base64 bytes."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def new_keypair(directory: str | Path, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a fresh key pair to ``directory/private.pem`` (mode 600) and ``public.pem``.

    Refuses to replace an existing private key unless ``overwrite``: losing a signing key means
    re-keying every device.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise KeyFileError(f"key directory {str(directory)!r} is a file, not a directory")
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    if private_path.exists() and not overwrite:
        raise KeyFileError(
            f"{str(private_path)!r} already exists; refusing to replace a signing key"
        )
    directory.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # create with mode 600 from the start: no moment where the key is world-readable
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def _read(path: str | Path, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise KeyFileError(f"{what} file {str(path)!r} does not exist")
    return path.read_bytes()


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file ``path`` (unencrypted PKCS#8)."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{str(path)!r} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{str(path)!r} holds a {type(key).__name__}; bundles need Ed25519")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM file ``path`` (SubjectPublicKeyInfo)."""
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{str(path)!r} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{str(path)!r} holds a {type(key).__name__}; bundles need Ed25519")
    return key
