"""A minute of the soak (``benchmarks/soak.py``) as a test, on the suite's broker and server.

The real ``outcomes run`` worker and ``outcomes api`` under simulated events at a steady rate
the pipeline sustains here and an open-loop API load with a real commissioner token. It
asserts outcomes, never timings: every API answer is a 2xx (no timeout either), the worker
never dies nor logs a traceback, the lag left when production ends drains (within a bound
that only says "not stuck"), the lag does not grow over the minute (the mean of the last
third of the samples against the first third, loosely), and the final aggregates equal the
batch recomputation. Memory is reported by the long soak, not judged on a minute.

``ROMS_SOAK_RATE`` (events/s), ``ROMS_SOAK_API_RATE`` (requests/s) and
``ROMS_SOAK_SECONDS`` raise the load as the pipeline gets faster.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.common import BenchStack
from benchmarks.soak import SoakPlan, run_soak, summarise, thirds_mean_lag
from tests.reliability.conftest import create_namespaced_topics

pytestmark = pytest.mark.reliability

SECONDS = float(os.environ.get("ROMS_SOAK_SECONDS", "60"))
RATE = float(os.environ.get("ROMS_SOAK_RATE", "300"))
API_RATE = float(os.environ.get("ROMS_SOAK_API_RATE", "20"))
SAMPLE_SECONDS = 2.0
DRAIN_BOUND_SECONDS = 180.0
"""The lag left at the end of production drains within this, or the worker is stuck (P)."""
LAG_FLOOR_SECONDS = 5.0
"""A lag under this much production is steady whatever its shape (batches come in waves)."""
LAG_GROWTH_FACTOR = 3.0
"""A lag growing steadily from zero has a last third about 5x its first third (P)."""


async def test_a_minute_of_steady_load_with_the_api_loses_nothing_and_keeps_up(
    kafka_bootstrap: str, dsn: str, unique_name: str, tmp_path: Path
) -> None:
    namespace = f"{unique_name}."
    await create_namespaced_topics(kafka_bootstrap, namespace)
    stack = BenchStack(kafka_bootstrap, dsn, namespace, tmp_path)
    plan = SoakPlan(
        seconds=SECONDS,
        rate=RATE,
        api_rate=API_RATE,
        sample_seconds=SAMPLE_SECONDS,
        drain_timeout=DRAIN_BOUND_SECONDS,
    )
    report = await run_soak(stack, plan)
    results = summarise(report)
    results.pop("samples")
    print(results)  # the figures of the run, for the README (pytest -s)

    assert results["produce_errors"] == 0, results
    assert results["api_requests"] >= int(API_RATE * SECONDS), results
    assert results["api_errors"] == 0, results
    assert results["workers_alive_throughout"], results
    assert results["worker_tracebacks"] == 0, results
    assert report.drain_seconds is not None, results
    first, last = thirds_mean_lag(report.production_samples())
    assert last <= max(RATE * LAG_FLOOR_SECONDS, LAG_GROWTH_FACTOR * first), [
        (round(sample.at), sample.lag) for sample in report.samples
    ]
    assert results["oracle_check"] == "pass", results
