"""Signed bundles: a good bundle verifies; every kind of bad one is refused with its reason."""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinylarge.errors import TinylargeError
from tinylarge.secure.bundle import (
    DOMAIN,
    MANIFEST_NAME,
    MODEL_NAME,
    SIGNATURE_NAME,
    BundleError,
    Manifest,
    Reason,
    canonical_json,
    rotate_keys,
    sign_bundle,
    verify_bundle,
    write_container,
)
from tinylarge.secure.keys import (
    KeyFileError,
    key_id,
    load_private_key,
    load_public_key,
    new_keypair,
)

MODEL = (Path(__file__).parents[1] / "large" / "fixtures" / "digits_cnn_int8.tflite").read_bytes()
TARGET = "nrf52840"


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def trusted(key) -> dict:
    return {key_id(key.public_key()): key.public_key()}


@pytest.fixture(scope="module")
def bundle(key) -> bytes:
    return sign_bundle(
        MODEL, key, version=3, target=TARGET, extra_files={"c/tl_model.c": b"int x;\n"}
    )


def refused(data: bytes, trusted: dict, **kwargs) -> BundleError:
    with pytest.raises(BundleError) as info:
        verify_bundle(data, trusted, **kwargs)
    return info.value


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_a_good_bundle_verifies_and_carries_its_manifest(bundle, trusted, key):
    verified = verify_bundle(bundle, trusted, target=TARGET, installed_counter=3)
    m = verified.manifest
    assert verified.model == MODEL
    assert verified.files["c/tl_model.c"] == b"int x;\n"
    assert (m.version, m.security_counter, m.target) == (3, 3, TARGET)
    assert m.key_id == key_id(key.public_key())
    assert m.files[MODEL_NAME].sha256 == hashlib.sha256(MODEL).hexdigest()
    assert m.files[MODEL_NAME].size_bytes == len(MODEL)


def test_signing_is_deterministic_for_fixed_time(key):
    a = sign_bundle(MODEL, key, version=1, target=TARGET, created_at_s=100)
    b = sign_bundle(MODEL, key, version=1, target=TARGET, created_at_s=100)
    assert a == b  # Ed25519 signatures are deterministic (RFC 8032), the container canonical


def test_the_signature_covers_the_domain_and_the_canonical_manifest(bundle, key):
    parts = entries(bundle)
    manifest = json.loads(parts[MANIFEST_NAME])
    assert parts[MANIFEST_NAME] == canonical_json(manifest)
    key.public_key().verify(parts[SIGNATURE_NAME], DOMAIN + parts[MANIFEST_NAME])


def test_a_flipped_payload_byte_is_tampered(bundle, trusted):
    data = bytearray(bundle)
    start = bundle.index(MODEL[:64])
    data[start + 100] ^= 0x01
    assert refused(bytes(data), trusted).reason in (Reason.TAMPERED,)


def test_a_replaced_model_with_a_fixed_crc_is_tampered(bundle, trusted):
    """Rebuilt by hand (valid zip, valid CRCs) with different model bytes: the hash catches it."""
    parts = entries(bundle)
    parts[MODEL_NAME] = MODEL[:-1] + bytes([MODEL[-1] ^ 0xFF])
    rebuilt = write_container(parts.items())
    err = refused(rebuilt, trusted)
    assert err.reason is Reason.TAMPERED
    assert "sha256 of 'model.tflite'" in err.detail


def test_an_extra_file_not_in_the_manifest_is_tampered(bundle, trusted):
    parts = entries(bundle)
    parts["c/evil.c"] = b"int y;\n"
    err = refused(write_container(parts.items()), trusted)
    assert (err.reason, "c/evil.c" in err.detail) == (Reason.TAMPERED, True)


def test_a_missing_file_is_tampered(bundle, trusted):
    parts = entries(bundle)
    del parts["c/tl_model.c"]
    err = refused(write_container(parts.items()), trusted)
    assert err.reason is Reason.TAMPERED and "missing" in err.detail


def test_missing_signature_or_manifest_is_unsigned(bundle, trusted):
    for drop in (SIGNATURE_NAME, MANIFEST_NAME):
        parts = entries(bundle)
        del parts[drop]
        err = refused(write_container(parts.items()), trusted)
        assert err.reason is Reason.UNSIGNED and drop in err.detail


def test_a_bundle_signed_by_an_unknown_key_is_refused(trusted):
    stranger = Ed25519PrivateKey.generate()
    data = sign_bundle(MODEL, stranger, version=9, target=TARGET)
    assert refused(data, trusted).reason is Reason.UNKNOWN_KEY


def test_a_stranger_claiming_a_trusted_key_id_has_a_bad_signature(bundle, trusted):
    stranger = Ed25519PrivateKey.generate()
    parts = entries(bundle)
    parts[SIGNATURE_NAME] = stranger.sign(DOMAIN + parts[MANIFEST_NAME])
    assert refused(write_container(parts.items()), trusted).reason is Reason.BAD_SIGNATURE


def test_an_edited_manifest_fails_its_signature(bundle, trusted):
    parts = entries(bundle)
    manifest = json.loads(parts[MANIFEST_NAME])
    manifest["target"] = "esp32s3"
    parts[MANIFEST_NAME] = canonical_json(manifest)
    assert refused(write_container(parts.items()), trusted).reason is Reason.BAD_SIGNATURE


def test_a_non_canonical_signed_manifest_is_refused(key, trusted):
    """Signed by the trusted key but pretty-printed: two encodings of one manifest are not ok."""
    data = entries(sign_bundle(MODEL, key, version=1, target=TARGET))
    loose = json.dumps(json.loads(data[MANIFEST_NAME]), indent=1).encode()
    data[MANIFEST_NAME], data[SIGNATURE_NAME] = loose, key.sign(DOMAIN + loose)
    err = refused(write_container(data.items()), trusted)
    assert err.reason is Reason.MALFORMED and "canonical" in err.detail


def test_wrong_target_and_rollback_are_refused(bundle, trusted):
    assert refused(bundle, trusted, target="esp32s3").reason is Reason.WRONG_TARGET
    err = refused(bundle, trusted, target=TARGET, installed_counter=4)
    assert err.reason is Reason.ROLLBACK and "below the installed 4" in err.detail


def test_duplicate_names_and_path_traversal_are_malformed(bundle, trusted):
    parts = list(entries(bundle).items())
    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = write_container([*parts, (MODEL_NAME, MODEL)])
    assert refused(dup, trusted).reason is Reason.MALFORMED
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in parts:
            zf.writestr(name, data)
        zf.writestr("../../etc/passwd", b"x")
    err = refused(buf.getvalue(), trusted)
    assert err.reason is Reason.MALFORMED and "unsafe entry name" in err.detail


def test_container_bytes_outside_the_payload_are_covered(bundle, trusted):
    """A zip comment or a re-dated entry changes no signed byte but is refused all the same."""
    buf = io.BytesIO(bundle)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.comment = b"hello"
    err = refused(buf.getvalue(), trusted)
    assert err.reason is Reason.TAMPERED and "canonical" in err.detail


def test_garbage_and_truncation_are_refused(bundle, trusted):
    assert refused(b"not a zip", trusted).reason is Reason.MALFORMED
    assert refused(b"", trusted).reason is Reason.MALFORMED
    assert refused(bundle[: len(bundle) // 2], trusted).reason in set(Reason)


def test_random_byte_flips_anywhere_are_always_refused(bundle, trusted):
    rng = random.Random(0)
    for _ in range(300):
        data = bytearray(bundle)
        for _ in range(rng.choice((1, 1, 2, 8))):
            data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        with pytest.raises(BundleError):
            verify_bundle(bytes(data), trusted, target=TARGET)


def test_key_rotation_introduces_and_retires_keys(key, trusted):
    new = Ed25519PrivateKey.generate()
    old_id, new_id = key_id(key.public_key()), key_id(new.public_key())
    rotation = verify_bundle(
        sign_bundle(
            MODEL, key, version=4, target=TARGET, new_keys=[new.public_key()], retired_keys=[old_id]
        ),
        trusted,
    )
    after = rotate_keys(trusted, rotation.manifest)
    assert set(after) == {new_id}
    verify_bundle(sign_bundle(MODEL, new, version=5, target=TARGET), after)
    assert refused(sign_bundle(MODEL, key, version=5, target=TARGET), after).reason is (
        Reason.UNKNOWN_KEY
    )


def test_a_rotation_may_not_empty_the_trust_set(key, trusted):
    m = Manifest.model_validate_json(
        entries(sign_bundle(MODEL, key, version=1, target=TARGET, retired_keys=list(trusted)))[
            MANIFEST_NAME
        ]
    )
    with pytest.raises(BundleError, match="no trusted key"):
        rotate_keys(trusted, m)


def test_sign_rejects_bad_fields_with_the_value(key):
    with pytest.raises(TinylargeError, match=r"target='no/such'"):
        sign_bundle(MODEL, key, version=1, target="no/such")
    with pytest.raises(TinylargeError, match=r"version=-1"):
        sign_bundle(MODEL, key, version=-1, target=TARGET)
    with pytest.raises(BundleError, match="unsafe entry name"):
        sign_bundle(MODEL, key, version=1, target=TARGET, extra_files={"../x.c": b""})


def test_keypair_files_round_trip_and_are_protected(tmp_path):
    private_path, public_path = new_keypair(tmp_path / "keys")
    assert private_path.stat().st_mode & 0o777 == 0o600
    private, public = load_private_key(private_path), load_public_key(public_path)
    assert key_id(private.public_key()) == key_id(public)
    with pytest.raises(KeyFileError, match="refusing to replace"):
        new_keypair(tmp_path / "keys")
    junk = tmp_path / "keys" / "junk.pem"
    junk.write_text("x")
    with pytest.raises(KeyFileError, match="is not a PEM public key"):
        load_public_key(junk)
    with pytest.raises(KeyFileError, match="does not exist"):
        load_private_key(tmp_path / "nope.pem")
