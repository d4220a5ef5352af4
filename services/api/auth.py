"""Who may read and write what (issue 5, Access control; outcomes.md §5).

- provider: posts events for its own ``provider_code``; reads its own ``provider``, ``team``
  (``PROVIDER/TEAM``) and ``ccg_provider`` (``CCG/PROVIDER``) rows and its referrals,
  unsuppressed;
- quality: a provider's quality team; reads like the provider, but neither posts events
  nor reads single referrals (P: least privilege; alerts are theirs when they exist);
- commissioner: reads its CCG's ``ccg`` rows and the ``ccg_provider`` rows of providers
  serving it, suppressed;
- admin: reads everything unsuppressed and may post events for any provider.
National figures are published unsuppressed by the national code itself (§5), so every role
reads the ``national`` level (P). Missing, malformed, unknown or revoked token: 401; a
request outside the token's scope: 403, decided from the request alone, before any lookup,
so the answer never reveals whether the thing exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Final

import asyncpg
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from scoring.figures import NATIONAL_CODE
from services.api.database import connection
from services.api.errors import ApiError
from services.api.tokens import Principal, Role, verify_token

READERS_OF_OWN_PROVIDER: Final = frozenset({Role.PROVIDER, Role.QUALITY})
PUBLIC_LEVELS: Final = frozenset({"national"})


def _unauthorised(message: str) -> ApiError:
    return ApiError(401, "auth.unauthorised", message, {"WWW-Authenticate": "Bearer"})


def forbidden(message: str = "this token may not access that") -> ApiError:
    return ApiError(403, "auth.forbidden", message)


bearer = HTTPBearer(auto_error=False, description="A token of `outcomes token create`.")


async def authenticate(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    db: Annotated[asyncpg.Connection, Depends(connection)],
) -> Principal:
    """The principal of the request's ``Authorization: Bearer`` token, or 401."""
    if credentials is None or not credentials.credentials.strip():
        raise _unauthorised("send Authorization: Bearer <token>")
    principal = await verify_token(db, credentials.credentials.strip())
    if principal is None:
        raise _unauthorised("the token is not valid (unknown, malformed or revoked)")
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]


def suppressed_for(principal: Principal) -> bool:
    """Figures leave their owner suppressed (outcomes.md §5): only commissioners are outside."""
    return principal.role is Role.COMMISSIONER


def may_post_for(principal: Principal, provider_code: str) -> bool:
    return principal.role is Role.ADMIN or (
        principal.role is Role.PROVIDER and provider_code in principal.orgs
    )


def may_read(principal: Principal, level: str, code: str) -> bool:
    """Whether ``principal`` may read aggregate ``level``/``code`` (mirrors :func:`scope_sql`)."""
    if principal.role is Role.ADMIN:
        return True
    if level in PUBLIC_LEVELS:
        return code == NATIONAL_CODE
    head, _, tail = code.partition("/")
    if principal.role is Role.COMMISSIONER:
        return (level == "ccg" and code in principal.orgs) or (
            level == "ccg_provider" and head in principal.orgs
        )
    return (
        (level == "provider" and code in principal.orgs)
        or (level == "team" and head in principal.orgs)
        or (level == "ccg_provider" and tail in principal.orgs)
    )


def readable_levels(principal: Principal) -> frozenset[str]:
    if principal.role is Role.ADMIN:
        return frozenset({"national", "ccg", "provider", "team", "ccg_provider"})
    if principal.role is Role.COMMISSIONER:
        return PUBLIC_LEVELS | {"ccg", "ccg_provider"}
    return PUBLIC_LEVELS | {"provider", "team", "ccg_provider"}


@dataclass(frozen=True, slots=True)
class ScopeSql:
    """A WHERE condition on ``aggregates`` limiting rows to a principal's scope; its one
    parameter (the org codes) is ``$n`` where ``n`` is the position given to :func:`scope_sql`."""

    condition: str
    arguments: Sequence[object]


def scope_sql(principal: Principal, position: int) -> ScopeSql:
    """The rows ``principal`` may read, as SQL over fixed text and one array parameter."""
    if principal.role is Role.ADMIN:
        return ScopeSql("TRUE", ())
    orgs = sorted(principal.orgs)
    p = f"${position}::text[]"
    if principal.role is Role.COMMISSIONER:
        condition = (
            f"(level = 'national' OR (level = 'ccg' AND code = ANY({p}))"
            f" OR (level = 'ccg_provider' AND split_part(code, '/', 1) = ANY({p})))"
        )
    else:
        condition = (
            f"(level = 'national' OR (level = 'provider' AND code = ANY({p}))"
            f" OR (level = 'team' AND split_part(code, '/', 1) = ANY({p}))"
            f" OR (level = 'ccg_provider' AND split_part(code, '/', 2) = ANY({p})))"
        )
    return ScopeSql(condition, (orgs,))


def own_provider(principal: Principal, requested: str | None) -> str:
    """The provider whose referral a provider (or admin) token reads; 403 outside its scope."""
    if principal.role not in {Role.PROVIDER, Role.ADMIN}:
        raise forbidden("only provider tokens read referral-level outcomes")
    if requested is not None:
        if principal.role is Role.PROVIDER and requested not in principal.orgs:
            raise forbidden()
        return requested
    if principal.role is Role.PROVIDER and len(principal.orgs) == 1:
        return next(iter(principal.orgs))
    raise ApiError(422, "request.provider_required", "name the provider: ?provider=CODE")
