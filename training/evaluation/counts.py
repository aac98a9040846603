"""Tallies of a matching, at one level (plants or plots): recall, precision, F1, errors.

A :class:`LevelScore` counts true objects (found or missed) and predictions (real or false)
overall, per class and per ``class/stage``, with the centroid error of every found object.
Growth stages belong to the labels only (the model predicts no stage), so per-stage numbers
are recall and centroid error. Scores of several flights add up with :meth:`LevelScore.add`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class MatchCounts:
    """Counts of one group (everything, one class, or one class/stage).

    Attributes:
        truths: True objects.
        found: True objects matched by a prediction.
        predictions: Predicted objects.
        false: Predictions that matched no true object.
        errors_m: Centroid distance of each found object to its prediction, metres.
    """

    truths: int = 0
    found: int = 0
    predictions: int = 0
    false: int = 0
    errors_m: list[float] = field(default_factory=list)

    def add(self, other: MatchCounts) -> None:
        """Accumulate another group's counts (e.g. another flight's)."""
        self.truths += other.truths
        self.found += other.found
        self.predictions += other.predictions
        self.false += other.false
        self.errors_m.extend(other.errors_m)

    @property
    def recall(self) -> float | None:
        """Share of true objects found; None when there were none."""
        return _ratio(self.found, self.truths)

    @property
    def precision(self) -> float | None:
        """Share of predictions that are real; None when nothing was predicted."""
        return _ratio(self.predictions - self.false, self.predictions)

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall; None when either is undefined."""
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mean_error_m(self) -> float | None:
        """Mean centroid error of found objects, metres."""
        return float(np.mean(self.errors_m)) if self.errors_m else None

    @property
    def p90_error_m(self) -> float | None:
        """90th percentile of the centroid error of found objects, metres."""
        return float(np.percentile(self.errors_m, 90)) if self.errors_m else None

    def to_dict(self, area_ha: float | None = None, truth_only: bool = False) -> dict[str, Any]:
        """JSON-ready numbers (rates rounded to 1e-4; None where undefined).

        Args:
            area_ha: Scanned area, hectares; adds ``false_per_ha`` when given.
            truth_only: Leave out prediction counts (for growth stages, which predictions lack).
        """
        data: dict[str, Any] = {"truths": self.truths, "found": self.found}
        data["recall"] = _rounded(self.recall)
        if not truth_only:
            data |= {
                "predictions": self.predictions,
                "false": self.false,
                "precision": _rounded(self.precision),
                "f1": _rounded(self.f1),
            }
            if area_ha is not None:
                data["false_per_ha"] = round(self.false / area_ha, 4) if area_ha else None
        data["centroid_error_mean_m"] = _rounded(self.mean_error_m)
        data["centroid_error_p90_m"] = _rounded(self.p90_error_m)
        return data


@dataclass
class LevelScore:
    """Scores of one level (plants or plots) over one or more flights.

    Attributes:
        area_ha: Scanned area, hectares (for false detections per hectare).
        overall: Counts over every class.
        by_class: Counts per class name.
        by_stage: Truth-side counts per ``"class/stage"`` key.
    """

    area_ha: float = 0.0
    overall: MatchCounts = field(default_factory=MatchCounts)
    by_class: dict[str, MatchCounts] = field(default_factory=dict)
    by_stage: dict[str, MatchCounts] = field(default_factory=dict)

    def count_truth(self, cls: str, stage: str, error_m: float | None) -> None:
        """Count one true object; ``error_m`` is its centroid error, None when it was missed."""
        groups = (
            self.overall,
            self.by_class.setdefault(cls, MatchCounts()),
            self.by_stage.setdefault(f"{cls}/{stage}", MatchCounts()),
        )
        for counts in groups:
            counts.truths += 1
            if error_m is not None:
                counts.found += 1
                counts.errors_m.append(error_m)

    def count_prediction(self, cls: str, false: bool) -> None:
        """Count one prediction of class ``cls``; ``false`` when it matched no true object."""
        for counts in (self.overall, self.by_class.setdefault(cls, MatchCounts())):
            counts.predictions += 1
            counts.false += false

    def add(self, other: LevelScore) -> None:
        """Accumulate another flight's score."""
        self.area_ha += other.area_ha
        self.overall.add(other.overall)
        for mine, theirs in ((self.by_class, other.by_class), (self.by_stage, other.by_stage)):
            for key, counts in theirs.items():
                mine.setdefault(key, MatchCounts()).add(counts)

    @property
    def false_per_ha(self) -> float | None:
        """False predictions per hectare of scanned area."""
        return self.overall.false / self.area_ha if self.area_ha else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: overall, per class and per growth stage."""
        return {
            "area_ha": round(self.area_ha, 4),
            **self.overall.to_dict(self.area_ha),
            "by_class": {k: v.to_dict(self.area_ha) for k, v in sorted(self.by_class.items())},
            "by_stage": {k: v.to_dict(truth_only=True) for k, v in sorted(self.by_stage.items())},
        }
