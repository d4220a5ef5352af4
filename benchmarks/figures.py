"""Aggregate figures throughput: ``derive`` and ``suppress_figures`` over realistic keys.

Run ``.venv/bin/python benchmarks/figures.py [--keys 1000] [--referrals 4000]``. The stream
pipeline re-derives every aggregate key a batch touches, so the workload is the counters of
``--keys`` keys drawn (fixed seed) from a recomputation over ``--referrals`` synthetic
referrals: national keys with thousands of pairs down to team keys with a handful, five
measure × informant headline scales. Each path is timed as the best of ``--repeat`` passes
over every key. Results are printed as a table and written to
``benchmarks/results/figures.json`` with the git commit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
# benchmarks/scoring.py sits in this file's folder, first on sys.path: it would shadow the package.
sys.path[0] = str(REPO)

from benchmarks.provenance import git_commit  # noqa: E402
from scoring.figures import AggregateKey, Counters, recompute  # noqa: E402
from scoring.published import derive  # noqa: E402
from scoring.suppression import suppress_figures  # noqa: E402
from scoring.types import (  # noqa: E402
    PERSPECTIVES,
    Change,
    ChangeCategory,
    HeadlineOutcome,
    ReferralCategory,
    ReferralOutcome,
    ReferralProfile,
)

RESULTS = REPO / "benchmarks" / "results" / "figures.json"
SEED = 20240501
FIRST_CLOSED = date(2019, 4, 1)
DAYS_CLOSED = 365


@dataclass(frozen=True, slots=True)
class Scale:
    """A headline scale: its range, score step, reliable change threshold and clinical cut-off."""

    measure: str
    informant: str
    perspective: str
    low: float
    high: float
    step: float
    threshold: float
    cutoff: float


SCALES = (
    Scale("SDQ", "parent", "parent", 0, 40, 1, 6, 17),
    Scale("SDQ", "self", "self", 0, 40, 1, 6, 20),
    Scale("RCADS", "self", "self", 20, 100, 0.1, 9.5, 65),
    Scale("HoNOSCA", "clinician", "clinician", 0, 52, 1, 4, 11),
    Scale("GBO", "self", "self", 0, 10, 1 / 3, 2.45, 5),
)
CCGS = tuple(f"0{n}A" for n in range(1, 7))
PROVIDERS = ("RXA", "RXB", "RXC", "RXD")
TEAMS = (None, "T1", "T2", "T3")
GENDERS = ("female", "male", "other")
ETHNICITIES = ("A", "B", "H", "M", "R", "Z", "99")
CATEGORIES: tuple[ReferralCategory, ...] = ("improved", "deteriorated", "no_change")


def random_headline(scale: Scale, rng: random.Random) -> HeadlineOutcome:
    steps = round((scale.high - scale.low) / scale.step)
    first = scale.low + rng.randint(0, steps) * scale.step
    last = min(scale.high, max(scale.low, first + rng.gauss(-0.1, 0.2) * (scale.high - scale.low)))
    last = scale.low + round((last - scale.low) / scale.step) * scale.step
    improvement = first - last
    category: ChangeCategory | None = None
    if rng.random() < 0.9:
        category = "no_reliable_change"
        if abs(improvement) >= scale.threshold:
            category = "reliable_improvement" if improvement > 0 else "reliable_deterioration"
    known = rng.random() < 0.8
    change = Change(
        last - first, improvement, None if category is None else scale.threshold, category
    )
    return HeadlineOutcome(
        scale.measure,
        scale.informant,
        "total",
        first,
        last,
        change,
        first >= scale.cutoff if known else None,
        last >= scale.cutoff if known else None,
    )


def random_referral(index: int, rng: random.Random) -> tuple[ReferralProfile, ReferralOutcome]:
    profile = ReferralProfile(
        provider_code=rng.choice(PROVIDERS),
        referral_id=f"R{index}",
        ccg_code=rng.choice(CCGS),
        team_code=rng.choice(TEAMS),
        received_on=date(2018, 1, 1),
        age_years=rng.randint(3, 17),
        gender=rng.choice(GENDERS),
        ethnicity=rng.choice(ETHNICITIES),
        looked_after=rng.random() < 0.1,
        ld_or_autism=rng.random() < 0.15,
    )
    scales = [scale for scale in SCALES if rng.random() < 0.4]
    paired = frozenset(scale.perspective for scale in scales)
    assessed = paired | {p for p in PERSPECTIVES if rng.random() < 0.3}
    outcome = ReferralOutcome(
        method="default",
        in_cohort=True,
        closed_on=FIRST_CLOSED + timedelta(days=rng.randrange(DAYS_CLOSED)),
        with_assessment=frozenset(assessed),
        paired=paired,
        categories={p: rng.choice(CATEGORIES) for p in paired},
        headlines=tuple(random_headline(scale, rng) for scale in scales),
    )
    return profile, outcome


def workload(keys: int, referrals: int, seed: int) -> list[tuple[AggregateKey, Counters]]:
    rng = random.Random(seed)
    totals = recompute(random_referral(index, rng) for index in range(referrals))
    chosen = rng.sample(sorted(totals), min(keys, len(totals)))
    return [(key, totals[key]) for key in chosen]


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


@dataclass(frozen=True, slots=True)
class Rate:
    path: str
    keys: int
    seconds: float
    keys_per_second: float
    microseconds_per_key: float


def rate(path: str, keys: int, seconds: float) -> Rate:
    return Rate(path, keys, seconds, keys / seconds, seconds / keys * 1e6)


def measure(rows: list[tuple[AggregateKey, Counters]], repeat: int) -> list[Rate]:
    counters = [values for _, values in rows]
    figures = [(derive(values), key.level) for key, values in rows]
    derive_seconds = best_seconds(lambda: [derive(values) for values in counters], repeat)
    suppress_seconds = best_seconds(
        lambda: [suppress_figures(derived, level) for derived, level in figures], repeat
    )
    return [
        rate("derive", len(rows), derive_seconds),
        rate("suppress_figures", len(rows), suppress_seconds),
    ]


def render(rates: list[Rate]) -> Table:
    table = Table(title="Aggregate figures: keys per second")
    for header in ("path", "keys", "seconds", "keys/s", "µs/key"):
        table.add_column(header, justify="left" if header == "path" else "right", no_wrap=True)
    for row in rates:
        table.add_row(
            row.path,
            f"{row.keys:,}",
            f"{row.seconds:.4f}",
            f"{row.keys_per_second:,.0f}",
            f"{row.microseconds_per_key:,.1f}",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--referrals", type=int, default=4_000)
    parser.add_argument("--repeat", type=int, default=5, help="passes per path; best kept")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    rows = workload(args.keys, args.referrals, args.seed)
    rates = measure(rows, args.repeat)
    report = {
        "benchmark": "figures",
        "commit": git_commit(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "seed": args.seed,
        "referrals": args.referrals,
        "counters_per_key": sum(len(values) for _, values in rows) / len(rows),
        "results": [asdict(row) for row in rates],
    }
    Console().print(render(rates))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    Console().print(f"written to {args.output}")


if __name__ == "__main__":
    main()
