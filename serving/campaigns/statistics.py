"""Campaign statistics: what was found, verified, eradicated, per cell, town, period, model.

Every plot in scope is counted once, in the group of the day it was *found* (its flight's
capture date), with the outcome it has reached by now (read from its audit history, see
:func:`serving.campaigns.history.outcome`). So "2026-03: 40 found, 31 eradicated" means 31 of
the plots found in March 2026 have been eradicated since, whenever that was.

Counts per group:

- ``found``: plots found; ``area_found_m2`` their outline area (m²).
- ``dismissed``: dismissed by an analyst and never sent to the field.
- ``verified``: reached a field verdict, ``positive`` or ``false_alarm`` (the latest counts).
- ``eradicated``: reported eradicated; ``plants_eradicated`` the plants reported then;
  ``area_eradicated_m2`` their outline area (m²).
- ``closed``: closed now.
- ``false_alarm_rate``: ``false_alarm / (positive + false_alarm)``; None with no verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Final, Literal

from sqlalchemy.orm import Session

from serving.campaigns.history import FALSE_ALARM, POSITIVE, Outcome, histories, outcome
from serving.campaigns.ledger import NO_TOWN, OUTSIDE_GRID
from serving.campaigns.ledger_scope import Hierarchy, Scope, scoped_plots

GroupBy = Literal["cell", "town", "month", "year", "model_version"]
GROUP_BYS: Final = ("cell", "town", "month", "year", "model_version")
UNKNOWN_MODEL: Final = "(unknown)"
# Two-sided 95 % normal quantile, for the Wilson interval of a false-alarm rate.
_Z95: Final = 1.959963984540054


@dataclass
class Counts:
    """What happened to a set of plots (see the module docstring); areas in m²."""

    found: int = 0
    dismissed: int = 0
    verified: int = 0
    positive: int = 0
    false_alarm: int = 0
    eradicated: int = 0
    closed: int = 0
    plants_eradicated: int = 0
    area_found_m2: float = 0.0
    area_eradicated_m2: float = 0.0

    def add(self, area_m2: float, result: Outcome) -> None:
        """Count one plot of outline ``area_m2`` (m²) that reached ``result``."""
        self.found += 1
        self.area_found_m2 += area_m2
        self.dismissed += result.dismissed
        self.verified += result.verdict is not None
        self.positive += result.verdict == POSITIVE
        self.false_alarm += result.verdict == FALSE_ALARM
        self.closed += result.closed
        if result.eradicated:
            self.eradicated += 1
            self.plants_eradicated += result.plants_eradicated
            self.area_eradicated_m2 += area_m2

    @property
    def false_alarm_rate(self) -> float | None:
        """``false_alarm / (positive + false_alarm)``, 0..1; None without verdicts."""
        judged = self.positive + self.false_alarm
        return self.false_alarm / judged if judged else None


METRICS: Final = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True)
class Fact:
    """One plot reduced to what statistics need.

    Attributes:
        found_on: The day it was found (UTC).
        area_m2: Outline area, square metres.
    """

    plot_id: int
    cell_id: int | None
    found_on: date
    model_version: str
    area_m2: float
    outcome: Outcome


@dataclass(frozen=True)
class Group:
    """The counts of one group: ``key`` is a cell or town code, ``YYYY-MM``, ``YYYY`` or a
    model version; ``name`` the unit's name where there is one."""

    key: str
    name: str
    counts: Counts


@dataclass(frozen=True)
class Statistics:
    """Counts per group, by key, and over all of them."""

    group_by: str
    groups: list[Group]
    total: Counts


@dataclass(frozen=True)
class Change:
    """One group in two years: counts in each, and the change of every metric.

    Attributes:
        change: ``current - previous`` per metric (areas m²).
        change_pct: The change in percent of ``previous``; None where ``previous`` is 0.
    """

    key: str
    name: str
    current: Counts
    previous: Counts
    change: dict[str, float] = field(default_factory=dict)
    change_pct: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class YearOnYear:
    """Year ``year`` against year ``previous``, per group and in total."""

    year: int
    previous: int
    group_by: str
    groups: list[Change]
    total: Change


@dataclass(frozen=True)
class ModelRate:
    """How a model version fared in the field.

    Attributes:
        false_alarm_rate: ``false_alarm / (positive + false_alarm)``, 0..1; None when no plot
            of the model was verified.
        ci_low, ci_high: Wilson 95 % interval of the rate (how sure the rate is, given how
            few verdicts it rests on); None with no verdicts.
    """

    model_version: str
    found: int
    verified: int
    positive: int
    false_alarm: int
    false_alarm_rate: float | None
    ci_low: float | None
    ci_high: float | None


def facts(session: Session, scope: Scope) -> list[Fact]:
    """Every plot in ``scope`` with the outcome its history shows."""
    rows = scoped_plots(session, scope)
    history = histories(session, [p.id for p, _ in rows])
    return [
        Fact(p.id, p.cell_id, day, p.model_version, p.area_m2, outcome(p, history[p.id]))
        for p, day in rows
    ]


def _key_function(
    group_by: str, hierarchy: Hierarchy, within_year: bool = False
) -> Callable[[Fact], tuple[str, str]]:
    """(key, name) of a fact's group; ``within_year`` makes months ``MM`` (for year-on-year)."""

    def cell(fact: Fact) -> tuple[str, str]:
        unit = hierarchy.by_id.get(fact.cell_id) if fact.cell_id is not None else None
        return (unit.code, unit.name) if unit else (OUTSIDE_GRID, "")

    def town(fact: Fact) -> tuple[str, str]:
        if fact.cell_id is None:
            return OUTSIDE_GRID, ""
        unit = hierarchy.ancestor(fact.cell_id, "town")
        return (unit.code, unit.name) if unit else (NO_TOWN, "")

    def month(fact: Fact) -> tuple[str, str]:
        day = fact.found_on
        return (f"{day.month:02d}" if within_year else f"{day.year:04d}-{day.month:02d}"), ""

    def year(fact: Fact) -> tuple[str, str]:
        return f"{fact.found_on.year:04d}", ""

    def model(fact: Fact) -> tuple[str, str]:
        return fact.model_version or UNKNOWN_MODEL, ""

    functions: dict[str, Callable[[Fact], tuple[str, str]]] = {
        "cell": cell,
        "town": town,
        "month": month,
        "year": year,
        "model_version": model,
    }
    if group_by not in functions:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BYS)}, not {group_by!r}")
    return functions[group_by]


def group_counts(
    items: Sequence[Fact], key: Callable[[Fact], tuple[str, str]]
) -> dict[str, tuple[str, Counts]]:
    """Counts of ``items`` per group key, with each group's name."""
    out: dict[str, tuple[str, Counts]] = {}
    for fact in items:
        code, name = key(fact)
        out.setdefault(code, (name, Counts()))[1].add(fact.area_m2, fact.outcome)
    return out


def _total(items: Sequence[Fact]) -> Counts:
    total = Counts()
    for fact in items:
        total.add(fact.area_m2, fact.outcome)
    return total


def statistics(session: Session, group_by: str, scope: Scope) -> Statistics:
    """Counts of the plots in ``scope`` per ``group_by`` group (see the module docstring).

    Raises:
        ValueError: ``group_by`` is not one of :data:`GROUP_BYS`.
    """
    key = _key_function(group_by, Hierarchy.load(session))
    items = facts(session, scope)
    groups = group_counts(items, key)
    ordered = [Group(k, name, counts) for k, (name, counts) in sorted(groups.items())]
    return Statistics(group_by, ordered, _total(items))


def change(key: str, name: str, current: Counts, previous: Counts) -> Change:
    """``current`` against ``previous``: the difference and percent change of every metric."""
    delta: dict[str, float] = {}
    pct: dict[str, float | None] = {}
    for metric in METRICS:
        now, before = getattr(current, metric), getattr(previous, metric)
        delta[metric] = now - before
        pct[metric] = round(100.0 * (now - before) / before, 2) if before else None
    return Change(key, name, current, previous, delta, pct)


def year_on_year(
    session: Session, year: int, group_by: str, scope: Scope, previous: int | None = None
) -> YearOnYear:
    """Plots found in ``year`` against those found in ``previous`` (the year before), per group.

    The scope's date range is replaced by the two calendar years; campaign and season filters
    usually pick one year only, so year-on-year comparisons normally filter by stage alone.

    Raises:
        ValueError: ``group_by`` is not one of :data:`GROUP_BYS`.
    """
    previous = year - 1 if previous is None else previous
    key = _key_function(group_by, Hierarchy.load(session), within_year=True)
    start, end = min(year, previous), max(year, previous)
    items = facts(session, replace(scope, since=date(start, 1, 1), until=date(end, 12, 31)))
    now = [f for f in items if f.found_on.year == year]
    before = [f for f in items if f.found_on.year == previous]
    current_groups, previous_groups = group_counts(now, key), group_counts(before, key)
    groups = []
    for code in sorted(set(current_groups) | set(previous_groups)):
        name, current = current_groups.get(code, ("", Counts()))
        old_name, old = previous_groups.get(code, ("", Counts()))
        groups.append(change(code, name or old_name, current, old))
    total = change("total", "", _total(now), _total(before))
    return YearOnYear(year, previous, group_by, groups, total)


def wilson_interval(successes: int, trials: int, z: float = _Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (0..1, six decimals); None when ``trials`` is 0."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return round(max(0.0, centre - half), 6), round(min(1.0, centre + half), 6)


def false_alarm_rates(session: Session, scope: Scope) -> list[ModelRate]:
    """False-alarm rate of every model version that found plots in ``scope``, by version."""
    groups = group_counts(facts(session, scope), _key_function("model_version", Hierarchy([])))
    out = []
    for version, (_name, counts) in sorted(groups.items()):
        judged = counts.positive + counts.false_alarm
        interval = wilson_interval(counts.false_alarm, judged)
        out.append(
            ModelRate(
                model_version=version,
                found=counts.found,
                verified=counts.verified,
                positive=counts.positive,
                false_alarm=counts.false_alarm,
                false_alarm_rate=counts.false_alarm_rate,
                ci_low=interval[0] if interval else None,
                ci_high=interval[1] if interval else None,
            )
        )
    return out
