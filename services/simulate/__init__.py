"""Synthetic, reproducible CYPMHS event streams in the shape of ``shared/spec/events.md``.

A year of activity from ``start``: 3 CCGs, 6 providers (ODS-shaped codes) with 2–4 teams
each; referrals with demographics, contacts (some missed, some indirect, a few referrals
with fewer than two), closes spread over the four financial quarters (some left open, a few
reopened); questionnaires by age and informant as ``measures.md`` allows them, GBO goals
and a few MHSDS coded scores. Baselines sit near the clinical range and improve over the
episode at a provider-specific rate; one provider's looked-after children deteriorate
clearly, so that the alert of ``outcomes.md`` §6 has something to find.

Delivery realism on top (:class:`DeliveryNoise`): exact duplicates, local disorder (and a
few referrals delivered as one scrambled batch), corrections (same ``assessment_id``, later
``emitted_at``, changed items), ``record.entered_in_error`` withdrawals and a few invalid
events, each about a fresh thing so that accepting one by mistake changes the figures.
:data:`MALFORMED_LINES` holds raw lines that are not events at all.

Each referral draws from its own generator seeded by ``(seed, index)``, clinical facts first,
then delivery, then the invalid event: so the stream is a pure function of its arguments, a
referral's events do not depend on how many referrals are simulated, :data:`CLEAN` yields
the same clinical events as :data:`REALISTIC`, and ``invalid_rate=0`` leaves every other
event byte-for-byte unchanged. Every rate and distribution here is a project choice (P).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import date
from operator import itemgetter
from pathlib import Path

import orjson

from services.simulate.delivery import referral_delivery
from services.simulate.encoding import nhs_number
from services.simulate.parameters import (
    CLEAN,
    DELIVERY_GROUP,
    MALFORMED_LINES,
    PROVIDERS,
    REALISTIC,
    DeliveryNoise,
    Event,
    Provider,
)

__all__ = [
    "CLEAN",
    "MALFORMED_LINES",
    "PROVIDERS",
    "REALISTIC",
    "DeliveryNoise",
    "Event",
    "Provider",
    "nhs_number",
    "simulate",
    "write_jsonl",
]


def simulate(
    referrals: int, seed: int, *, start: date = date(2019, 4, 1), noise: DeliveryNoise = REALISTIC
) -> Iterator[Event]:
    """Yield the events of ``referrals`` referrals over the year from ``start``, as delivered.

    A duplicate is the *same* dict yielded twice (same bytes when serialised): treat the
    events as read-only.
    """
    for first in range(0, referrals, DELIVERY_GROUP):
        delivery: list[tuple[float, Event]] = []
        for index in range(first, min(referrals, first + DELIVERY_GROUP)):
            rng = random.Random(f"{seed}:{index}")  # noqa: S311 (reproducible, not secret)
            delivery.extend(referral_delivery(rng, start, noise))
        delivery.sort(key=itemgetter(0))
        for _, event in delivery:
            yield event


def write_jsonl(events: Iterable[Event], path: Path, *, raw_lines: Iterable[bytes] = ()) -> int:
    """Write one JSON object per line, then ``raw_lines`` verbatim; return the line count."""
    count = 0
    with path.open("wb") as out:
        for event in events:
            out.write(orjson.dumps(event) + b"\n")
            count += 1
        for line in raw_lines:
            out.write(line + b"\n")
            count += 1
    return count
