"""The role × endpoint access matrix (issue 5): what each kind of token is answered by each
endpoint. Shared by the serial test (tests/e2e/test_api_access.py) and the concurrent one
(tests/reliability/test_auth_concurrency.py)."""

from __future__ import annotations

from typing import Final

from tests.e2e.api_support import Tokens

REPORT: Final = "/v1/reports/outcomes?ccg=05A&year=2019/20"
ENDPOINTS: Final = ("aggregates", "report", "referral", "post")
UNKNOWN_TOKEN: Final = "roms_0123456789abcdef_" + "x" * 43
"""Well-formed, with a token id that was never issued."""

Request = tuple[str, str, bytes | None]
"""Method, path with query, body."""

# token -> endpoint -> status. Tokens (tests/e2e/api_support.TOKEN_GRANTS): provider RYG,
# other_provider RX4, quality RYG, commissioner 05A, other_commissioner 13T; None sends no
# Authorization, "bad" an unknown token, "forged" the provider's token id with a wrong
# secret. RX4 serves 13T and 99C, not 05A: its report of 05A is empty but allowed (its own
# rows, of which there are none).
MATRIX: Final[dict[str | None, dict[str, int]]] = {
    None: dict.fromkeys(ENDPOINTS, 401),
    "bad": dict.fromkeys(ENDPOINTS, 401),
    "forged": dict.fromkeys(ENDPOINTS, 401),
    "revoked": dict.fromkeys(ENDPOINTS, 401),
    "provider": {"aggregates": 200, "report": 200, "referral": 200, "post": 202},
    "other_provider": {"aggregates": 200, "report": 200, "referral": 403, "post": 403},
    "quality": {"aggregates": 200, "report": 200, "referral": 403, "post": 403},
    "commissioner": {"aggregates": 200, "report": 200, "referral": 403, "post": 403},
    "other_commissioner": {"aggregates": 200, "report": 403, "referral": 403, "post": 403},
    "admin": {"aggregates": 200, "report": 200, "referral": 200, "post": 202},
}


def matrix_requests(referral_id: str, stored_event: bytes) -> dict[str, Request]:
    """Each endpoint's request: ``referral_id`` is a referral of RYG and ``stored_event`` an
    event of RYG already stored (posting it is a duplicate, so no broker is needed)."""
    return {
        "aggregates": ("GET", "/v1/aggregates", None),
        "report": ("GET", REPORT, None),
        "referral": ("GET", f"/v1/referrals/{referral_id}/outcomes?provider=RYG", None),
        "post": ("POST", "/v1/events", stored_event),
    }


def matrix_headers(tokens: Tokens, token: str | None) -> dict[str, str]:
    """The ``Authorization`` header a row of :data:`MATRIX` sends."""
    if token is None:
        return {}
    if token == "bad":
        return {"Authorization": f"Bearer {UNKNOWN_TOKEN}"}
    if token == "forged":
        return {"Authorization": f"Bearer roms_{tokens.ids['provider']}_{'y' * 43}"}
    return tokens.headers(token)
