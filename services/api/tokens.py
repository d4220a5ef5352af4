"""Bearer tokens of the HTTP API: issued once, stored hashed, checked in constant time.

A token is ``roms_<token id>_<secret>``: the id (16 hex digits) finds the row, the secret
(256 random bits) proves possession. Only SHA-256 of the secret is stored. A slow KDF
(scrypt) protects guessable passwords; against a 256-bit random secret it adds nothing but
per-request latency, so the plain hash is the right tool (P). Digests are compared with
:func:`hmac.compare_digest`, and an unknown id is compared against a dummy digest, so timing
tells an attacker neither which ids exist nor how much of a secret matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import asyncpg

TOKEN_PREFIX: Final = "roms_"  # noqa: S105 (a format marker, not a secret)
TOKEN_ID_HEX: Final = 16
SECRET_BYTES: Final = 32
"""P: 256-bit secrets, the size of the SHA-256 digest that stands for them."""
_TOKEN_PATTERN: Final = re.compile(
    rf"^{TOKEN_PREFIX}(?P<token_id>[0-9a-f]{{{TOKEN_ID_HEX}}})_(?P<secret>[A-Za-z0-9_-]{{43}})$"
)
ORG_CODE_PATTERN: Final = re.compile(r"^[A-Z0-9]{3}([A-Z0-9]{2})?$")
"""ODS codes of providers (``RYG``, ``RYG01``) and commissioners (``05A``): events.md."""
_DUMMY_DIGEST: Final = hashlib.sha256(b"no such token").digest()


class Role(StrEnum):
    """What a token may do (issue 5, Access control)."""

    PROVIDER = "provider"
    """Posts events for its own provider codes; reads its own figures unsuppressed."""
    COMMISSIONER = "commissioner"
    """Reads the figures of its CCG codes, suppressed."""
    QUALITY = "quality"
    """A provider's quality team: reads its provider's figures unsuppressed; posts nothing."""
    ADMIN = "admin"
    """Reads everything unsuppressed and may post events for any provider."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified holder of a token."""

    token_id: str
    role: Role
    orgs: frozenset[str]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token_id: str
    token: str
    """Shown once to whoever issued it; the store never sees it."""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def validate_orgs(role: Role, orgs: Sequence[str]) -> tuple[str, ...]:
    """The distinct org codes, sorted; ``ValueError`` when the role needs one and has none or a
    code is not ODS-shaped."""
    bad = [org for org in orgs if not ORG_CODE_PATTERN.fullmatch(org)]
    if bad:
        raise ValueError(f"not ODS codes (3 or 5 upper-case letters or digits): {bad}")
    if role is not Role.ADMIN and not orgs:
        raise ValueError(f"a {role} token needs at least one --org code")
    return tuple(sorted(set(orgs)))


async def create_token(
    connection: asyncpg.Connection, role: Role, orgs: Sequence[str], label: str = ""
) -> IssuedToken:
    """Issue a token for ``role`` over ``orgs``; only its digest is stored."""
    codes = validate_orgs(role, orgs)
    token_id = secrets.token_hex(TOKEN_ID_HEX // 2)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    await connection.execute(
        "INSERT INTO api_clients (token_id, secret_sha256, role, orgs, label)"
        " VALUES ($1, $2, $3, $4, $5)",
        token_id,
        _digest(secret),
        role.value,
        list(codes),
        label,
    )
    return IssuedToken(token_id, f"{TOKEN_PREFIX}{token_id}_{secret}")


async def revoke_token(connection: asyncpg.Connection, token_id: str) -> bool:
    """Revoke ``token_id`` from now on; False when no live token has that id."""
    status: str = await connection.execute(
        "UPDATE api_clients SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL",
        token_id,
    )
    return status == "UPDATE 1"


async def verify_token(connection: asyncpg.Connection, token: str) -> Principal | None:
    """The principal of a live ``token``; None when it is malformed, unknown or revoked."""
    match = _TOKEN_PATTERN.fullmatch(token)
    if match is None:
        return None
    row = await connection.fetchrow(
        "SELECT secret_sha256, role, orgs FROM api_clients"
        " WHERE token_id = $1 AND revoked_at IS NULL",
        match["token_id"],
    )
    stored = _DUMMY_DIGEST if row is None else bytes(row["secret_sha256"])
    if not hmac.compare_digest(stored, _digest(match["secret"])) or row is None:
        return None
    return Principal(match["token_id"], Role(row["role"]), frozenset(row["orgs"]))
