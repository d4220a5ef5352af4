"""What a reader of ``GET /v1/aggregates`` sees of a row's figures, as ready JSON.

A row carries ~45 headline figures (outcomes.md §4: MHS110–115 counts and percentages, names
without a dot, e.g. ``pct_improved_self``) and ~800 per measure × informant
(``SDQ.parent.mean_change``), ~14 KB in all. Shipping all of them to every reader cost most
of a request (issue 5, speed), so the headline is the default and the rest is sent when
asked for (``detail=all``, ``measure=``, ``perspective=``). The store keeps the headline
ready; the rest is derived from the row's counters when asked for.

Suppression (§5) is applied to whole scopes (the headline, one measure × informant) before
the last selection, because a selected figure can depend on one left out
(``pct_paired_self`` on ``closed_referrals``). What is
published from a row cannot change without its ``computed_at`` changing (the pipeline sets
it on every write), so each item is cached as JSON by row version and view: a cached row
needs neither its figures from the database nor any encoding.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import orjson

from scoring.published import derive
from scoring.suppression import suppress_figures
from services.api.errors import ApiError
from services.api.models import Detail

CACHE_BYTES: Final = 64 * 1024 * 1024
"""P: published items kept per API process (~50,000 headline rows or ~4,500 whole ones)."""
VERSION_COLUMNS: Final = (
    "method",
    "level",
    "code",
    "period",
    "cohort",
    "cohort_value",
    "computed_at",
)
"""An aggregate row as of one computation: its key and ``computed_at``."""
RowVersion = tuple[Any, ...]
"""The values of :data:`VERSION_COLUMNS`, in order."""
_ITEM_COLUMNS: Final = ("method", "level", "code", "period", "cohort", "cohort_value")


class View(NamedTuple):
    """Which figures a request publishes, and whether suppressed."""

    suppressed: bool
    headline: bool
    """Only the figures without a dot (the national metrics)."""
    measure: str | None
    perspective: str | None

    @property
    def everything(self) -> bool:
        return not self.headline and self.measure is None and self.perspective is None


def view_of(
    *, suppressed: bool, detail: Detail | None, measure: str | None, perspective: str | None
) -> View:
    """The headline unless ``detail=all`` or a measure or perspective asks for more."""
    if detail == "headline" and measure is not None:
        raise ApiError(
            422,
            "request.detail_conflict",
            "measure= selects per-measure figures, which detail=headline leaves out",
        )
    asked = measure is not None or perspective is not None
    return View(
        suppressed, detail == "headline" or (detail is None and not asked), measure, perspective
    )


def _scopes(figures: dict[str, Any], view: View) -> dict[str, Any]:
    """The whole scopes a detailed ``view`` draws on: the headline (dotless names) unless a
    measure is asked, and the measure × informant scopes (``SDQ.parent``) it asks for. Suppression
    works within a scope (a percentage on its scope's counts, a statistic on its scope's
    ``n_paired``), so suppressing these alone gives what suppressing all would."""
    if view.everything:
        return figures
    kept = {}
    for name, value in figures.items():
        scope, dot, _ = name.rpartition(".")
        if dot:
            head, _, informant = scope.partition(".")
            wanted = view.measure in (None, head) and view.perspective in (None, informant)
        else:
            wanted = view.measure is None
        if wanted:
            kept[name] = value
    return kept


def publish_figures(row: Mapping[str, Any], view: View) -> orjson.Fragment:
    """The figures of one row as ``view`` shows them, as JSON, from the stored headline
    (``figures``) or, for more, derived from the ``counters``: a perspective keeps
    ``paired_self`` and ``RCADS.self.…``, a measure ``SDQ.…``, the headline the dotless names
    (the perspective's dotless ones are picked after suppression, which needs their scope's
    other counts: ``pct_paired_self`` needs ``closed_referrals``)."""
    if view.headline and not view.suppressed:
        return orjson.Fragment(row["figures"])
    if view.headline:
        figures = orjson.loads(row["figures"])
    else:
        figures = _scopes(derive(orjson.loads(row["counters"])), view)
    if view.suppressed:
        figures = suppress_figures(figures, row["level"])
    if view.perspective is not None:
        ending = f"_{view.perspective}"
        figures = {k: v for k, v in figures.items() if "." in k or k.endswith(ending)}
    return orjson.Fragment(orjson.dumps(figures))


def publish_item(row: Mapping[str, Any], view: View) -> bytes:
    """One item of ``GET /v1/aggregates`` (:class:`services.api.models.AggregateRow`) from a
    row with every column and ``figures`` (a headline view) or ``counters`` as text."""
    return orjson.dumps(
        {
            **{column: row[column] for column in _ITEM_COLUMNS},
            "period_kind": row["period_kind"],
            "figures": publish_figures(row, view),
            "suppressed": view.suppressed and row["level"] != "national",
            "events": row["events"],
            "scoring_version": row["scoring_version"],
            "computed_at": row["computed_at"],
        }
    )


class PublishedCache:
    """Least recently used published items by (row version, view), bounded in bytes."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[tuple[RowVersion, View], bytes] = OrderedDict()

    def get(self, key: tuple[RowVersion, View]) -> bytes | None:
        shown = self._entries.get(key)
        if shown is not None:
            self._entries.move_to_end(key)
        return shown

    def put(self, key: tuple[RowVersion, View], shown: bytes) -> None:
        if key in self._entries or len(shown) > self.budget:
            return
        self._entries[key] = shown
        self.size += len(shown)
        while self.size > self.budget:
            _, dropped = self._entries.popitem(last=False)
            self.size -= len(dropped)
