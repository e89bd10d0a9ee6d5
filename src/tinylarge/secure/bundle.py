"""Signed model bundles: one zip holding the int8 ``.tflite`` (and optionally its C), a manifest
and an Ed25519 signature; verification that refuses, naming why, anything a device should not run.

Anchors: MCUboot's signed images (Ed25519, a security counter against rollback) and TUF / SUIT
(RFC 9019, 9124) manifests that list every payload's hash, carry a target and introduce new keys.

Layout (always the same bytes for the same contents, so verification can insist on it):

- ``manifest.json``: canonical JSON (sorted keys, no spaces, ASCII) of :class:`Manifest`: format,
  model ``version``, monotonic ``security_counter``, ``target`` device, ``created_at_s``, the
  signer's ``key_id``, ``files`` (name -> sha256, size) and keys it introduces or retires.
- ``manifest.sig``: 64 bytes, Ed25519 over ``DOMAIN + manifest.json`` (the domain prefix keeps a
  bundle signature from being replayed as any other signature made with the same key).
- the payload files, sorted by name: ``model.tflite`` and, optionally, ``c/<file>``.

Every entry is stored (not deflated), dated 1980-01-01 and has fixed attributes. The verifier
rebuilds that canonical container from what it has authenticated and compares it byte for byte
with the file: a change anywhere (a timestamp, an extra field, a comment, a second entry with a
duplicate name) is refused, not just changes to the payload. Stored entries also mean no
decompression bomb and no dependence on the zlib version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tinylarge.errors import TinylargeError
from tinylarge.secure.keys import key_id, public_key_from_b64, public_key_to_b64

BUNDLE_FORMAT = "tinylarge-bundle/1"
DOMAIN = b"tinylarge bundle manifest v1\n"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
MODEL_NAME = "model.tflite"
MAX_BUNDLE_BYTES = 64 << 20
MAX_ENTRIES = 256
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# relative POSIX paths from a safe alphabet; '.' and '..' components are rejected separately
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
TARGET_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Reason(StrEnum):
    """Why a bundle was refused (the ``reason`` of ``tinylarge bundle verify --json``)."""

    MALFORMED = "malformed"  # not a readable bundle: not a zip, bad names, duplicates, too big
    UNSIGNED = "unsigned"  # no manifest or no signature
    UNKNOWN_KEY = "unknown_key"  # signed by a key the device does not trust
    BAD_SIGNATURE = "bad_signature"  # the signature does not verify under the named key
    TAMPERED = "tampered"  # signed manifest, but the files or the container differ from it
    WRONG_TARGET = "wrong_target"  # built for another device
    ROLLBACK = "rollback"  # security counter below the one installed


class BundleError(TinylargeError):
    """A bundle verification refused; ``reason`` is a :class:`Reason`, the message says more."""

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"bundle refused ({reason.value}): {detail}")


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)


class Manifest(BaseModel):
    """What a bundle's signature covers; see the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["tinylarge-bundle/1"] = BUNDLE_FORMAT
    version: int = Field(ge=0, description="model version (may go back in a fleet rollback)")
    security_counter: int = Field(ge=0, description="monotonic; devices refuse lower values")
    target: str = Field(pattern=TARGET_PATTERN.pattern, description="device the model is for")
    created_at_s: int = Field(ge=0, description="Unix seconds at signing")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="the signer's key id")
    files: dict[str, FileEntry]
    new_keys: list[str] = Field(default_factory=list, description="base64 keys introduced")
    retired_keys: list[str] = Field(default_factory=list, description="key ids retired")

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that passed every check: its manifest and its payload files by name."""

    manifest: Manifest
    files: Mapping[str, bytes]

    @property
    def model(self) -> bytes:
        return self.files[MODEL_NAME]

    @property
    def sha256(self) -> str:
        return self.manifest.files[MODEL_NAME].sha256


def canonical_json(obj: object) -> bytes:
    """The one byte string a JSON value signs as: sorted keys, no whitespace, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def check_name(name: str) -> str:
    """``name`` if it is a safe relative entry name (no traversal, no odd characters)."""
    parts = name.split("/")
    if len(name) > 200 or not NAME_PATTERN.match(name) or any(p in (".", "..") for p in parts):
        raise BundleError(Reason.MALFORMED, f"unsafe entry name {name!r}")
    return name


def write_container(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """The canonical zip of ``entries`` (in the order given): stored, fixed dates and modes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # Unix
            info.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            zf.writestr(info, data)
    return buf.getvalue()


def _entries(manifest: bytes, signature: bytes, files: Mapping[str, bytes]) -> list:
    return [(MANIFEST_NAME, manifest), (SIGNATURE_NAME, signature)] + sorted(files.items())


def sign_bundle(
    model: bytes,
    private_key: Ed25519PrivateKey,
    *,
    version: int,
    target: str,
    security_counter: int | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    new_keys: Iterable[Ed25519PublicKey] = (),
    retired_keys: Iterable[str] = (),
    created_at_s: int | None = None,
) -> bytes:
    """A signed bundle (zip bytes) for ``model`` (``.tflite`` bytes) built for ``target``.

    ``security_counter`` defaults to ``version``; ``extra_files`` adds payload (e.g. the generated
    C as ``c/tl_model.c``); ``new_keys`` / ``retired_keys`` rotate the devices' trusted keys.
    """
    files = {MODEL_NAME: bytes(model)}
    for name, data in (extra_files or {}).items():
        if name in (MODEL_NAME, MANIFEST_NAME, SIGNATURE_NAME):
            raise TinylargeError(f"bundle entry name {name!r} is reserved")
        check_name(name)
        files[name] = bytes(data)
    try:
        manifest = Manifest(
            version=version,
            security_counter=version if security_counter is None else security_counter,
            target=target,
            created_at_s=int(time.time()) if created_at_s is None else created_at_s,
            key_id=key_id(private_key.public_key()),
            files={
                name: FileEntry(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
                for name, data in files.items()
            },
            new_keys=[public_key_to_b64(k) for k in new_keys],
            retired_keys=list(retired_keys),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TinylargeError(
            f"invalid bundle field {where}={first.get('input')!r}: {first['msg']}"
        ) from None
    manifest_bytes = manifest.canonical_bytes()
    signature = private_key.sign(DOMAIN + manifest_bytes)
    return write_container(_entries(manifest_bytes, signature, files))


def _open(data: bytes) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    """The zip and its entries by name, after the structural checks (all ``MALFORMED``)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(Reason.MALFORMED, f"{len(data)} bytes exceed {MAX_BUNDLE_BYTES}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as exc:  # zipfile raises many types on garbage (struct, Unicode, OSError)
        raise BundleError(Reason.MALFORMED, f"not a zip container ({exc})") from None
    if len(infos) > MAX_ENTRIES:
        raise BundleError(Reason.MALFORMED, f"{len(infos)} entries exceed {MAX_ENTRIES}")
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = check_name(info.filename)
        if name in by_name:
            raise BundleError(Reason.MALFORMED, f"duplicate entry {name!r}")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise BundleError(Reason.MALFORMED, f"entry {name!r} is compressed or encrypted")
        if info.file_size > MAX_BUNDLE_BYTES:
            raise BundleError(Reason.MALFORMED, f"entry {name!r} declares {info.file_size} bytes")
        by_name[name] = info
    return zf, by_name


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except Exception as exc:  # CRC mismatch, header/directory disagreement, truncation
        raise BundleError(Reason.TAMPERED, f"entry {name!r} is damaged ({exc})") from None


def _signer(
    manifest_bytes: bytes, signature: bytes, trusted: Mapping[str, Ed25519PublicKey]
) -> str:
    """The id of the trusted key whose signature verifies; else why not (unknown vs bad)."""
    message = DOMAIN + manifest_bytes
    if len(signature) == 64:
        for kid, key in trusted.items():
            try:
                key.verify(signature, message)
                return kid
            except InvalidSignature:
                continue
    # nothing verified: read the (unauthenticated) manifest only to say which failure it is
    try:
        claimed = json.loads(manifest_bytes).get("key_id")
    except Exception:
        claimed = None
    if isinstance(claimed, str) and claimed in trusted:
        raise BundleError(Reason.BAD_SIGNATURE, f"signature does not verify under key {claimed}")
    if isinstance(claimed, str):
        raise BundleError(Reason.UNKNOWN_KEY, f"signed by untrusted key {claimed[:32]!r}")
    raise BundleError(Reason.BAD_SIGNATURE, "signature verifies under no trusted key")


def verify_bundle(
    data: bytes,
    trusted: Mapping[str, Ed25519PublicKey],
    *,
    target: str | None = None,
    installed_counter: int | None = None,
) -> VerifiedBundle:
    """The authenticated contents of bundle ``data``, or :class:`BundleError` saying why.

    ``trusted`` maps key ids to public keys. The signature is checked before the manifest is
    parsed (never act on unauthenticated bytes); then every file's size and SHA-256, the exact
    set of files, the canonical container bytes, the target (if given) and the security counter
    against ``installed_counter`` (equal is allowed: reinstalling is not a rollback).
    """
    zf, infos = _open(bytes(data))
    if MANIFEST_NAME not in infos or SIGNATURE_NAME not in infos:
        missing = MANIFEST_NAME if MANIFEST_NAME not in infos else SIGNATURE_NAME
        raise BundleError(Reason.UNSIGNED, f"no {missing} in the bundle")
    manifest_bytes = _read(zf, MANIFEST_NAME)
    signature = _read(zf, SIGNATURE_NAME)
    signer = _signer(manifest_bytes, signature, trusted)
    try:
        manifest = Manifest.model_validate_json(manifest_bytes)
    except ValidationError as exc:
        raise BundleError(Reason.MALFORMED, f"signed manifest is invalid ({exc})") from None
    if manifest.canonical_bytes() != manifest_bytes:
        raise BundleError(Reason.MALFORMED, "signed manifest is not in canonical form")
    if manifest.key_id != signer:
        raise BundleError(
            Reason.BAD_SIGNATURE, f"manifest names key {manifest.key_id}, signed by {signer}"
        )
    payload_names = set(infos) - {MANIFEST_NAME, SIGNATURE_NAME}
    unlisted, missing = payload_names - set(manifest.files), set(manifest.files) - payload_names
    if unlisted:
        raise BundleError(Reason.TAMPERED, f"entry {min(unlisted)!r} is not in the manifest")
    if missing:
        raise BundleError(Reason.TAMPERED, f"signed file {min(missing)!r} is missing")
    if MODEL_NAME not in manifest.files:
        raise BundleError(Reason.MALFORMED, f"the manifest lists no {MODEL_NAME}")
    files: dict[str, bytes] = {}
    for name, entry in sorted(manifest.files.items()):
        content = _read(zf, name)
        if len(content) != entry.size_bytes or hashlib.sha256(content).hexdigest() != entry.sha256:
            raise BundleError(Reason.TAMPERED, f"sha256 of {name!r} does not match the manifest")
        files[name] = content
    if write_container(_entries(manifest_bytes, signature, files)) != data:
        raise BundleError(Reason.TAMPERED, "container bytes differ from the canonical layout")
    if target is not None and manifest.target != target:
        raise BundleError(
            Reason.WRONG_TARGET, f"bundle is for {manifest.target!r}, this device is {target!r}"
        )
    if installed_counter is not None and manifest.security_counter < installed_counter:
        raise BundleError(
            Reason.ROLLBACK,
            f"security counter {manifest.security_counter} is below the installed "
            f"{installed_counter}",
        )
    return VerifiedBundle(manifest=manifest, files=files)


def rotate_keys(
    trusted: Mapping[str, Ed25519PublicKey], manifest: Manifest
) -> dict[str, Ed25519PublicKey]:
    """The trust set after accepting ``manifest``: its new keys added, its retired ids removed.

    Only a bundle that verified under a trusted key may call this, so a key can be introduced
    only by a key already trusted (TUF's rule for root rotation). A rotation that would leave no
    trusted key is refused.
    """
    updated = dict(trusted)
    for text in manifest.new_keys:
        try:
            key = public_key_from_b64(text)
        except ValueError as exc:
            raise BundleError(Reason.MALFORMED, f"bad key in new_keys ({exc})") from None
        updated[key_id(key)] = key
    for kid in manifest.retired_keys:
        updated.pop(kid, None)
    if not updated:
        raise BundleError(Reason.MALFORMED, "the rotation would leave no trusted key")
    return updated


def save_bundle(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + rename): never half a bundle on disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
