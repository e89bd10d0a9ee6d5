"""A self-signed TLS certificate for a service on loopback or a lab network (tests, demos).

Production deployments get their certificate from their own CA; a client of a self-signed
service pins the certificate itself as its CA bundle (``verify=cert_path`` in ``httpx``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_cert(
    cert_path: str | Path,
    key_path: str | Path,
    hosts: Iterable[str] = ("127.0.0.1", "localhost"),
    days: int = 30,
) -> tuple[Path, Path]:
    """Write an ECDSA P-256 key (mode 600) and a certificate valid for ``hosts`` (IPs or names)."""
    key = ec.generate_private_key(ec.SECP256R1())
    hosts = list(hosts)
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = Path(cert_path), Path(key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


def client_verify(verify: bool | str | Path | ssl.SSLContext) -> bool | ssl.SSLContext:
    """What ``httpx`` takes for ``verify``: a CA bundle path becomes an SSL context."""
    if isinstance(verify, str | Path):
        return ssl.create_default_context(cafile=str(verify))
    return verify
