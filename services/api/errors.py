"""One JSON shape for every refusal: ``{"error_code", "message"}``, never a stack trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson
from fastapi import Request
from fastapi.responses import Response


class JsonResponse(Response):
    """JSON rendered by orjson (dates, UUIDs and large figure maps, fast)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """A refusal with its HTTP status, a stable ``error_code`` and a human message."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = dict(headers or {})


class DatabaseUnavailable(ApiError):
    """PostgreSQL cannot be reached or stopped answering: 503, try again later."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "service.database_unavailable",
            "the database is unavailable; try again shortly",
            {"Retry-After": "5"},
        )


DATABASE_DOWN_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.QueryCanceledError,
)
"""What asyncpg raises when the server is gone, refusing connections or starting up, or a
statement ran out of time (``statement_timeout``; ``command_timeout`` raises TimeoutError)."""


def error_response(error: ApiError) -> JsonResponse:
    return JsonResponse(
        {"error_code": error.error_code, "message": error.message},
        status_code=error.status,
        headers=error.headers,
    )


async def handle_api_error(_: Request, error: Exception) -> JsonResponse:
    assert isinstance(error, ApiError)
    return error_response(error)


async def handle_invalid_value(_: Request, error: Exception) -> JsonResponse:
    """A value PostgreSQL refuses (parameters are validated first; this is the safety net)."""
    return error_response(ApiError(400, "request.invalid_value", "a parameter is not valid"))


async def handle_database_down(_: Request, error: Exception) -> JsonResponse:
    return error_response(DatabaseUnavailable())
