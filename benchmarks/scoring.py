"""Scoring throughput: ``scoring.score`` one questionnaire at a time vs ``scoring.score_batch``.

Run ``.venv/bin/python benchmarks/scoring.py [--rows 100000 1000000]``. Workloads: SDQ
parent (25 items, impact supplement unanswered) and RCADS self (47 items, with ages and
sexes, so T-scores are computed). Responses are random valid answers with ~5% unanswered,
from a fixed seed. The loop rate is timed on a sample and extrapolated (it is flat in n);
each batch size is timed as the best of ``--repeat`` runs. Cores cannot be pinned portably,
so the figures are reported as measured, with the machine. Results are printed as a table
and written to ``benchmarks/results/scoring.json`` with the git commit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
# This file is named scoring.py: its own folder, first on sys.path, would shadow the package.
sys.path[0] = str(REPO)

import scoring  # noqa: E402
from benchmarks.provenance import git_commit  # noqa: E402
from scoring.types import FloatArray, MeasureDefinition  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "scoring.json"
NAN_SHARE = 0.05
SEED = 20240501
RCADS_AGES = (8, 17)
SEXES = ("male", "female")


@dataclass(frozen=True, slots=True)
class Workload:
    measure: str
    informant: str
    with_demographics: bool


@dataclass(frozen=True, slots=True)
class Sample:
    responses: FloatArray
    ages: FloatArray | None
    sexes: list[str] | None


WORKLOADS = (Workload("SDQ", "parent", False), Workload("RCADS", "self", True))


def random_sample(workload: Workload, rows: int, rng: np.random.Generator) -> Sample:
    """Valid answers to every required item, ~5% of them unanswered; optional items left blank."""
    definition: MeasureDefinition = scoring.MEASURES[workload.measure]
    columns = definition.columns[workload.informant]
    required = definition.required[workload.informant]
    responses = np.full((rows, len(columns)), np.nan)
    for index, key in enumerate(columns):
        if key in required:
            allowed = definition.responses[key]
            n_steps = round((allowed.high - allowed.low) / allowed.step)
            responses[:, index] = allowed.low + rng.integers(0, n_steps + 1, rows) * allowed.step
    if not definition.answer_required:
        responses[rng.random(responses.shape) < NAN_SHARE] = np.nan
    if not workload.with_demographics:
        return Sample(responses, None, None)
    ages = rng.integers(RCADS_AGES[0], RCADS_AGES[1] + 1, rows).astype(np.float64)
    sexes = [SEXES[index] for index in rng.integers(0, len(SEXES), rows)]
    return Sample(responses, ages, sexes)


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def time_loop(workload: Workload, sample: Sample) -> float:
    """Seconds to score every row of ``sample`` with ``scoring.score`` (dicts built beforehand)."""
    columns = scoring.MEASURES[workload.measure].columns[workload.informant]
    questionnaires = [
        {key: None if np.isnan(value) else value for key, value in zip(columns, row, strict=True)}
        for row in sample.responses.tolist()
    ]
    ages = [None] * len(questionnaires) if sample.ages is None else sample.ages.tolist()
    sexes = [None] * len(questionnaires) if sample.sexes is None else sample.sexes
    started = time.perf_counter()
    for items, age, sex in zip(questionnaires, ages, sexes, strict=True):
        scoring.score(workload.measure, workload.informant, items, age=age, sex=sex)
    return time.perf_counter() - started


def time_batch(workload: Workload, sample: Sample, repeat: int) -> float:
    return best_seconds(
        lambda: scoring.score_batch(
            workload.measure,
            workload.informant,
            sample.responses,
            ages=sample.ages,
            sexes=sample.sexes,
        ),
        repeat,
    )


@dataclass(frozen=True, slots=True)
class Rate:
    rows: int
    seconds: float
    per_second: float
    ratio_to_loop: float


@dataclass(frozen=True, slots=True)
class WorkloadResult:
    measure: str
    informant: str
    loop: Rate
    batch: list[Rate]


def measure(
    workload: Workload, rows: list[int], loop_sample: int, repeat: int, seed: int
) -> WorkloadResult:
    rng = np.random.default_rng(seed)
    loop_seconds = time_loop(workload, random_sample(workload, loop_sample, rng))
    loop_rate = loop_sample / loop_seconds
    batch = []
    for n in rows:
        seconds = time_batch(workload, random_sample(workload, n, rng), repeat)
        batch.append(Rate(n, seconds, n / seconds, n / seconds / loop_rate))
    loop = Rate(loop_sample, loop_seconds, loop_rate, 1.0)
    return WorkloadResult(workload.measure, workload.informant, loop, batch)


def render(results: list[WorkloadResult]) -> Table:
    table = Table(title="Scoring throughput: questionnaires per second (q/s)")
    for header in ("measure", "informant", "path", "rows", "seconds", "q/s", "× loop"):
        left = header in ("measure", "informant", "path")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for result in results:
        paths = [("score", result.loop)] + [("score_batch", rate) for rate in result.batch]
        for path, rate in paths:
            table.add_row(
                result.measure,
                result.informant,
                path,
                f"{rate.rows:,}",
                f"{rate.seconds:.3f}",
                f"{rate.per_second:,.0f}",
                f"{rate.ratio_to_loop:,.0f}",
            )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--loop-sample", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="batch runs per size; best kept")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    results = [
        measure(workload, args.rows, args.loop_sample, args.repeat, args.seed)
        for workload in WORKLOADS
    ]
    report = {
        "benchmark": "scoring",
        "commit": git_commit(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "seed": args.seed,
        "nan_share": NAN_SHARE,
        "results": [asdict(result) for result in results],
    }
    Console().print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    Console().print(f"written to {args.output}")


if __name__ == "__main__":
    main()
