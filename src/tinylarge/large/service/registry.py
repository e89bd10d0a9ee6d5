"""The device registry: identities, keys, tokens, revocations, bundles, rollouts and the audit log,
in a real database (SQLAlchemy Core): SQLite by default, PostgreSQL by URL for several hosts.

Every write is one transaction committed before the call returns, so a service that answers only
after the call loses nothing it acknowledged when it is killed (SQLite runs in WAL mode with
``synchronous=FULL``: a commit is on disk, not only in the OS cache). Calls are blocking; the
service runs them in a worker thread. Refused requests go through :meth:`Registry.audit_many`,
which the service's audit writer calls with a whole batch (group commit).

Tables: ``devices`` (id, Ed25519 public key, target, last auth counter, revocation), ``tokens``
(hash of each issued token, expiry, revocation), ``audit`` (refused requests), ``bundles`` (signed
bundle bytes by version), ``rollouts`` (phase and policy) and ``rollout_reports``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from tinylarge.errors import TinylargeError
from tinylarge.secure.rollout import DeviceReport, Phase, Rollout, RolloutPolicy

metadata = MetaData()

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("public_key", String(64), nullable=False),  # base64 raw Ed25519
    Column("target", String(64), nullable=False),
    Column("created_at_s", Float, nullable=False),
    Column("last_auth_ms", BigInteger, nullable=False, default=0),  # replay guard for /auth/token
    Column("revoked_at_s", Float, nullable=True),
    Column("revoked_reason", Text, nullable=True),
)
tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("device_id", String(64), nullable=False, index=True),
    Column("issued_at_s", Float, nullable=False),
    Column("expires_at_s", Float, nullable=False),
    Column("revoked_at_s", Float, nullable=True),
)
audit = Table(
    "audit",
    metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=True),
    Column("at_s", Float, nullable=False, index=True),
    Column("device_id", String(64), nullable=True),  # verified identity, if any
    Column("claimed", String(64), nullable=True),  # who an unverified token claimed to be
    Column("remote", String(64), nullable=True),
    Column("method", String(8), nullable=False),
    Column("path", String(200), nullable=False),
    Column("status", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("n", Integer, nullable=False, default=1),  # identical refusals in one batch
)
bundles = Table(
    "bundles",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("security_counter", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("uploaded_at_s", Float, nullable=False),
)
rollouts = Table(
    "rollouts",
    metadata,
    Column("rollout_id", String(64), primary_key=True),
    Column("target", String(64), nullable=False),
    Column("from_version", Integer, nullable=False),
    Column("to_version", Integer, nullable=False),
    Column("policy", Text, nullable=False),
    Column("phase", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at_s", Float, nullable=False),
)
reports = Table(
    "rollout_reports",
    metadata,
    Column("rollout_id", String(64), primary_key=True),
    Column("device_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("n_samples", Integer, nullable=False),
    Column("n_correct", Integer, nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("failed", Boolean, nullable=False),
    Column("detail", Text, nullable=False),
)


class RegistryError(TinylargeError):
    """A registry call that cannot be done (unknown device, duplicate id, bad database URL)."""


def token_hash(token: str) -> str:
    """The registry never stores tokens, only their SHA-256 (a leaked table grants nothing)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One refused request, as the service middleware saw it."""

    at_s: float
    method: str
    path: str
    status: int
    reason: str
    device_id: str | None = None
    claimed: str | None = None
    remote: str | None = None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///file.db`` or ``postgresql+psycopg://...``)."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        if url.startswith("postgresql"):
            return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise RegistryError(f"bad registry URL {url!r}: {exc}") from None
    raise RegistryError(
        f"unsupported registry URL {url!r}; valid: sqlite:///PATH, postgresql+psycopg://..."
    )


class Registry:
    """The registry behind one service; several hosts may share one PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            metadata.create_all(self.engine)  # idempotent; concurrent hosts may race here
        except (IntegrityError, OperationalError) as exc:
            if "already exists" not in str(exc):
                raise RegistryError(f"cannot open registry {url!r}: {exc}") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- devices -----------------------------------------------------------------------------

    def register(self, device_id: str, public_key: str, target: str) -> dict:
        now = time.time()
        row = {
            "device_id": device_id,
            "public_key": public_key,
            "target": target,
            "created_at_s": now,
            "last_auth_ms": 0,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(devices).values(**row))
        except IntegrityError:
            raise RegistryError(f"device {device_id!r} is already registered") from None
        return row

    def device(self, device_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(devices).where(devices.c.device_id == device_id)).first()
        return None if row is None else dict(row._mapping)

    def devices(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(devices).order_by(devices.c.device_id)).all()
        return [dict(r._mapping) for r in rows]

    def revoke(self, device_id: str, reason: str) -> float:
        """Revoke a device (and with it every token it holds); returns the revocation time."""
        now = time.time()
        with self.engine.begin() as conn:
            n = conn.execute(
                update(devices)
                .where(devices.c.device_id == device_id)
                .values(
                    revoked_at_s=func.coalesce(devices.c.revoked_at_s, now), revoked_reason=reason
                )
            ).rowcount
        if n == 0:
            raise RegistryError(f"unknown device {device_id!r}")
        return now

    def advance_auth(self, device_id: str, counter_ms: int) -> bool:
        """Accept an auth counter only if it is above the last one (no replay); atomically."""
        with self.engine.begin() as conn:
            n = conn.execute(
                update(devices)
                .where(devices.c.device_id == device_id, devices.c.last_auth_ms < counter_ms)
                .values(last_auth_ms=counter_ms)
            ).rowcount
        return n == 1

    # -- tokens ------------------------------------------------------------------------------

    def record_token(self, device_id: str, token: str, expires_at_s: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(tokens).values(
                    token_hash=token_hash(token),
                    device_id=device_id,
                    issued_at_s=time.time(),
                    expires_at_s=expires_at_s,
                )
            )

    def revoke_token(self, token: str) -> None:
        with self.engine.begin() as conn:
            n = conn.execute(
                update(tokens)
                .where(tokens.c.token_hash == token_hash(token))
                .values(revoked_at_s=time.time())
            ).rowcount
        if n == 0:
            raise RegistryError("that token was never issued by this registry")

    def revoked(self) -> tuple[set[str], set[str]]:
        """Revoked device ids and revoked (unexpired) token hashes: what the service caches."""
        now = time.time()
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(devices.c.device_id).where(devices.c.revoked_at_s.is_not(None))
            )
            hashes = conn.execute(
                select(tokens.c.token_hash).where(
                    tokens.c.revoked_at_s.is_not(None), tokens.c.expires_at_s > now
                )
            )
            return {r[0] for r in ids}, {r[0] for r in hashes}

    def token_count(self, device_id: str | None = None) -> int:
        q = select(func.count()).select_from(tokens)
        if device_id is not None:
            q = q.where(tokens.c.device_id == device_id)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    # -- audit -------------------------------------------------------------------------------

    def audit_many(self, records: Iterable[AuditRecord]) -> list[int]:
        """Write a batch of refusals in one transaction; identical ones share a row (``n``).

        Returns one audit id per record, in order (equal ids for merged records).
        """
        records = list(records)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(records):
            key = (r.device_id, r.claimed, r.remote, r.method, r.path, r.status, r.reason)
            groups.setdefault(key, []).append(i)
        ids = [0] * len(records)
        with self.engine.begin() as conn:
            for positions in groups.values():
                r = records[positions[0]]
                row = {**r.__dict__, "n": len(positions)}
                audit_id = conn.execute(insert(audit).values(**row)).inserted_primary_key[0]
                for i in positions:
                    ids[i] = int(audit_id)
        return ids

    def audit_log(self, since_id: int = 0, limit: int = 1000) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit)
                .where(audit.c.audit_id > since_id)
                .order_by(audit.c.audit_id)
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    def audit_counts(self) -> dict[int, int]:
        """``{audit_id: n}`` for every audit row (what a durability check compares against)."""
        with self.engine.connect() as conn:
            return {int(a): int(n) for a, n in conn.execute(select(audit.c.audit_id, audit.c.n))}

    # -- bundles and rollouts ----------------------------------------------------------------

    def add_bundle(self, version: int, sha256: str, target: str, counter: int, data: bytes) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(bundles).values(
                        version=version,
                        sha256=sha256,
                        target=target,
                        security_counter=counter,
                        data=data,
                        uploaded_at_s=time.time(),
                    )
                )
        except IntegrityError:
            raise RegistryError(f"bundle version {version} is already stored") from None

    def bundle(self, version: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(bundles).where(bundles.c.version == version)).first()
        return None if row is None else dict(row._mapping)

    def bundle_versions(self) -> list[int]:
        with self.engine.connect() as conn:
            return [
                r[0] for r in conn.execute(select(bundles.c.version).order_by(bundles.c.version))
            ]

    def start_rollout(
        self,
        rollout_id: str,
        target: str,
        from_version: int,
        to_version: int,
        policy: RolloutPolicy,
    ) -> None:
        for v in (from_version, to_version):
            b = self.bundle(v)
            if b is None:
                raise RegistryError(f"no bundle version {v}; stored: {self.bundle_versions()}")
            if b["target"] != target:
                raise RegistryError(f"bundle version {v} is for {b['target']!r}, not {target!r}")
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(rollouts).values(
                        rollout_id=rollout_id,
                        target=target,
                        from_version=from_version,
                        to_version=to_version,
                        policy=policy.model_dump_json(),
                        phase=Phase.CANARY.value,
                        reason="",
                        created_at_s=time.time(),
                    )
                )
        except IntegrityError:
            raise RegistryError(f"rollout {rollout_id!r} already exists") from None

    def rollout(self, rollout_id: str) -> Rollout | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.rollout_id == rollout_id)).first()
            if row is None:
                return None
            rows = conn.execute(select(reports).where(reports.c.rollout_id == rollout_id)).all()
        r = Rollout(
            rollout_id=row.rollout_id,
            from_version=row.from_version,
            to_version=row.to_version,
            policy=RolloutPolicy.model_validate(json.loads(row.policy)),
            phase=Phase(row.phase),
            reason=row.reason,
        )
        for rep in rows:
            m = dict(rep._mapping)
            m.pop("rollout_id")
            report = DeviceReport(**m)
            r.reports[f"{report.device_id}@{report.version}"] = report
        return r

    def latest_rollout(self, target: str) -> Rollout | None:
        with self.engine.connect() as conn:
            rid = conn.execute(
                select(rollouts.c.rollout_id)
                .where(rollouts.c.target == target)
                .order_by(rollouts.c.created_at_s.desc())
                .limit(1)
            ).scalar()
        return None if rid is None else self.rollout(rid)

    def report(self, rollout_id: str, report: DeviceReport) -> Rollout:
        """Store ``report`` (replacing the device's previous one for that version), then apply
        the rollout policy and persist a phase change (compare-and-set from ``canary``)."""
        with self.engine.connect() as conn:
            known = conn.execute(
                select(rollouts.c.rollout_id).where(rollouts.c.rollout_id == rollout_id)
            ).first()
        if known is None:
            raise RegistryError(f"unknown rollout {rollout_id!r}")
        # a service rollout targets one device kind, so every report is of the same type and
        # the table does not store it
        fields = {k: v for k, v in report.__dict__.items() if k != "device_type"}
        values = {"rollout_id": rollout_id, **fields}
        key = (
            (reports.c.rollout_id == rollout_id)
            & (reports.c.device_id == report.device_id)
            & (reports.c.version == report.version)
        )
        try:
            with self.engine.begin() as conn:
                if conn.execute(update(reports).where(key).values(**values)).rowcount == 0:
                    conn.execute(insert(reports).values(**values))
        except IntegrityError:  # a concurrent first report from the same device won: overwrite
            with self.engine.begin() as conn:
                conn.execute(update(reports).where(key).values(**values))
        rollout = self.rollout(rollout_id)
        if rollout is None:
            raise RegistryError(f"unknown rollout {rollout_id!r}")
        phase = rollout.decide()
        if phase is not Phase.CANARY:
            with self.engine.begin() as conn:
                conn.execute(
                    update(rollouts)
                    .where(rollouts.c.rollout_id == rollout_id, rollouts.c.phase == "canary")
                    .values(phase=phase.value, reason=rollout.reason)
                )
        return rollout
