"""Class-name mapping of imported boxes, with a count of every box it renamed or dropped.

Annotation sets spell classes their own way (``Tree``, ``tree``, an empty name, a stray
``Tree\\``). A :class:`ClassMap` renames them to the model's classes; names that still are not
model classes are an error by default (so a typo never silently drops half the labels) or
are dropped on request. The :class:`RemapReport` says what happened, box by box counts, and
goes into the dataset card.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from training.dataset import DatasetError
from training.importers.labels import ImageLabels

# A source name of "*" maps every name the map does not list.
WILDCARD = "*"
UNKNOWN_POLICIES = ("error", "drop")


@dataclass(frozen=True)
class ClassMap:
    """Source class name -> model class name.

    Attributes:
        mapping: Renames; the key ``"*"`` catches every name not listed. Names with no entry
            (and no ``"*"``) are kept as they are.
    """

    mapping: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: Sequence[str]) -> ClassMap:
        """Parse ``["tree=tree,Tree=tree", "=tree"]``-style specs (``SOURCE=TARGET``, commas).

        The last ``=`` of a pair separates the names, so a source name may end in any
        character but ``=`` (``Tree\\=tree`` maps ``Tree\\``); an empty source name maps boxes
        with no name; ``*=tree`` maps every other name.

        Raises:
            DatasetError: a pair has no ``=`` or an empty target.
        """
        mapping: dict[str, str] = {}
        for spec in specs:
            for pair in spec.split(","):
                if not pair.strip():
                    continue
                source, sep, target = pair.rpartition("=")
                if not sep or not target.strip():
                    raise DatasetError(
                        f"class map entry {pair!r} is not SOURCE=TARGET (e.g. Tree=tree)"
                    )
                mapping[source.strip()] = target.strip()
        return cls(mapping)

    def target(self, name: str) -> str:
        """The model class a source class name maps to."""
        return self.mapping.get(name, self.mapping.get(WILDCARD, name))


@dataclass
class RemapReport:
    """What a class map did to the boxes of an import.

    Attributes:
        boxes: Boxes kept, after mapping.
        remapped: Boxes renamed, by ``(source name, model class)``.
        dropped: Boxes dropped because their class is not a model class, by source name.
    """

    boxes: int = 0
    remapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready form for the dataset card."""
        return {
            "boxes": self.boxes,
            "remapped": [
                {"from": src, "to": dst, "boxes": n}
                for (src, dst), n in sorted(self.remapped.items())
            ],
            "dropped": [{"from": src, "boxes": n} for src, n in sorted(self.dropped.items())],
        }

    def summary(self) -> str:
        """One line for people: how many boxes were renamed or dropped, and which."""
        renamed = ", ".join(f"{s!r} -> {d} {n}" for (s, d), n in sorted(self.remapped.items()))
        dropped = ", ".join(f"{s!r} {n}" for s, n in sorted(self.dropped.items()))
        parts = [f"{self.boxes} box(es) kept"]
        if renamed:
            parts.append(f"{sum(self.remapped.values())} renamed ({renamed})")
        if dropped:
            parts.append(f"{sum(self.dropped.values())} dropped as unknown classes ({dropped})")
        return "; ".join(parts)


def apply_class_map(
    items: Sequence[ImageLabels],
    class_map: ClassMap,
    classes: Sequence[str],
    *,
    unknown: str = "error",
) -> tuple[list[ImageLabels], RemapReport]:
    """Rename every box's class with ``class_map``; deal with names that are not ``classes``.

    Args:
        items: Imported images.
        class_map: The renames.
        classes: The model's classes.
        unknown: ``"error"``: refuse names that map to no model class; ``"drop"``: drop
            those boxes (counted in the report).

    Raises:
        DatasetError: ``unknown == "error"`` and some boxes have classes the model lacks; the
            message lists each name with its box count and a file that has it.
    """
    if unknown not in UNKNOWN_POLICIES:
        raise DatasetError(f"unknown-class policy {unknown!r}: choose error or drop")
    report = RemapReport()
    unknown_seen: Counter[str] = Counter()
    example: dict[str, str] = {}
    out = []
    for item in items:
        kept = []
        for box in item.boxes:
            target = class_map.target(box.class_name)
            if target not in classes:
                if unknown == "drop":
                    report.dropped[box.class_name] += 1
                else:
                    unknown_seen[box.class_name] += 1
                    example.setdefault(box.class_name, str(item.label_file))
                continue
            if target != box.class_name:
                report.remapped[(box.class_name, target)] += 1
                box = dataclasses.replace(box, class_name=target)
            kept.append(box)
        report.boxes += len(kept)
        out.append(dataclasses.replace(item, boxes=tuple(kept)))
    if unknown_seen:
        names = "; ".join(
            f"{name!r}: {n} box(es), e.g. in {example[name]}"
            for name, n in sorted(unknown_seen.items())
        )
        raise DatasetError(
            f"classes that are not model classes ({', '.join(classes)}): {names}; map them "
            "with --class-map SOURCE=TARGET or drop them with --drop-unknown"
        )
    return out, report
