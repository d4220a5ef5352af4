"""Events parsed per second by ``topics.parse_event`` on one core, for a realistic mix.

Mix (P): 40% SDQ and 25% RCADS questionnaires, 10% contacts, 10% goal ratings, 5% each of
referral opened/closed and coded scores. Prints a table and writes results/parse.json.
Run ``.venv/bin/python -P benchmarks/parse.py`` (``-P``: ``benchmarks/scoring.py`` would
otherwise shadow the ``scoring`` package).
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from topics import parse_event

GUIDE = Path(__file__).parents[1] / "docs" / "integrating.md"
RESULTS = Path(__file__).parent / "results" / "parse.json"
N_EVENTS = 50_000
MIX = {
    "sdq": 40,
    "rcads": 25,
    "contact.recorded": 10,
    "goal.rated": 10,
    "referral.opened": 5,
    "referral.closed": 5,
    "assessment.scored": 5,
}


def _examples() -> dict[str, dict[str, Any]]:
    text = GUIDE.read_text(encoding="utf-8")
    blocks = [json.loads(b.split("\n```", 1)[0]) for b in text.split("```json\n")[1:]]
    return {b["event_type"]: b for b in blocks if "event_type" in b}


def _event(kind: str, examples: dict[str, dict[str, Any]], rng: random.Random) -> bytes:
    if kind in ("sdq", "rcads"):
        event = copy.deepcopy(examples["questionnaire.completed"])
        if kind == "rcads":
            event["payload"].update(measure="RCADS", informant="self")
            event["payload"]["items"] = {
                str(n): rng.choice([0, 1, 2, 3, None]) for n in range(1, 48)
            }
        else:
            for key in [str(n) for n in range(1, 26)]:
                event["payload"]["items"][key] = rng.choice([0, 1, 2])
    else:
        event = copy.deepcopy(examples[kind])
    event["event_id"] = str(uuid.UUID(int=rng.getrandbits(128)))
    return json.dumps(event).encode()


def main() -> None:
    rng = random.Random(1)
    examples = _examples()
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=N_EVENTS)
    events = [(kind, _event(kind, examples, rng)) for kind in kinds]
    for _, raw in events[:1000]:
        parse_event(raw)  # warm caches
    timings: dict[str, list[float]] = {kind: [] for kind in MIX}
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _, raw in events:
            parse_event(raw)
        best = min(best, time.perf_counter() - start)
    for kind, raw in events[:20_000]:
        start = time.perf_counter()
        parse_event(raw)
        timings[kind].append(time.perf_counter() - start)
    rate = N_EVENTS / best
    print(f"{'event kind':<22}{'share':>7}{'µs/event':>10}")
    per_kind = {}
    for kind, values in timings.items():
        micros = 1e6 * sorted(values)[len(values) // 2]
        per_kind[kind] = round(micros, 1)
        print(f"{kind:<22}{MIX[kind]:>6}%{micros:>10.1f}")
    print(f"mix: {rate:,.0f} events/s on one core (best of 3 × {N_EVENTS:,})")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"commit": commit, "events_per_second": round(rate), "median_us": per_kind, "mix": MIX},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
