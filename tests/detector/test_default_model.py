"""The model shipped with the package: present, carded, and usable by a plain scan."""

from __future__ import annotations

from pathlib import Path

from detector.backends import DEFAULT_MODEL, default_model_path
from detector.card import ModelCard, sha256_of
from detector.scan import scan


def test_default_model_ships_with_a_complete_card() -> None:
    weights = default_model_path()
    card = ModelCard.load(weights)
    assert card.classes == ("poppy", "cannabis")
    assert 0.005 <= card.gsd_m <= 0.1 and card.overlap_px * card.gsd_m >= 1.5  # > cannabis
    assert card.data_fingerprint and card.training["duration_s"] > 0
    heldout = card.metrics["heldout_synthetic"]
    assert {"recall", "false_plots_per_ha", "recall_by_stage"} <= set(heldout)
    assert weights.stat().st_size < 20 * 1024 * 1024


def test_scan_without_a_model_uses_the_default(tmp_path: Path, make_raster, monkeypatch) -> None:
    monkeypatch.setenv("POPPYSCAN_CACHE_DIR", str(tmp_path / "cache"))
    raster = make_raster("plain.tif", width=900, height=700)
    result = scan(raster)
    assert result.provenance["model"]["sha256"] == sha256_of(DEFAULT_MODEL)
    assert result.provenance["model"]["name"] == "poppyscan-default"
    assert result.stats.tiles_scanned > 0
