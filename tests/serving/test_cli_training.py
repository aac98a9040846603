"""`poppyscan train / evaluate / export / models` as real processes, good input and bad."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pyproj import Transformer
from rasters import write_raster

from detector.card import ModelCard
from detector.raster import inspect_raster
from serving.cli import EXIT_BAD_INPUT, main
from training.dataset import FlightSource, build_dataset
from training.synthetic import generate_flight

ERROR_PREFIX = "poppyscan: error:"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Process environment with a private registry and cache."""
    return {
        **os.environ,
        "POPPYSCAN_MODELS": str(tmp_path / "registry"),
        "POPPYSCAN_CACHE_DIR": str(tmp_path / "cache"),
    }


def poppyscan(
    env: dict[str, str], cwd: Path, *args: object, timeout: int = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serving.cli", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def assert_bad_input(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"want one line on stderr, got {lines!r}"
    assert lines[0].startswith(ERROR_PREFIX) and expected in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def in_process(
    capsys: pytest.CaptureFixture[str], *args: object
) -> subprocess.CompletedProcess[str]:
    """Run ``poppyscan`` in this process (cheap: for the cases a subprocess run already covers)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)


def _point_labels(raster: Path, path: Path) -> Path:
    """Two point plants in WGS84 on a test raster."""
    info = inspect_raster(raster)
    to_wgs84 = Transformer.from_crs(info.crs_wkt, "EPSG:4326", always_xy=True)
    a, _, c, _, e, f = info.transform
    features = [
        {
            "type": "Feature",
            "properties": {"class": cls, "kind": "plant"},
            "geometry": {
                "type": "Point",
                "coordinates": list(to_wgs84.transform(c + a * col, f + e * row)),
            },
        }
        for cls, col, row in (("poppy", 100, 100), ("cannabis", 600, 300))
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A tiny two-flight dataset at 4 cm / 320 px; returns its data.yaml."""
    flights = []
    for i in range(2):
        raster = write_raster(tmp_path / f"f{i}.tif", width=800, height=640, seed=i)
        flights.append(FlightSource(raster, _point_labels(raster, tmp_path / f"f{i}.geojson")))
    card = ModelCard("t", "0", ("poppy", "cannabis"), gsd_m=0.04, tile_size_px=320, overlap_px=64)
    return build_dataset([flights[0]], [flights[1]], card, tmp_path / "ds", name="tiny")


@pytest.fixture
def flight(tmp_path: Path) -> FlightSource:
    """A small synthetic flight with plant and plot labels (class, kind, stage)."""
    made = generate_flight(tmp_path / "flights", seed=5, width_px=512, height_px=512, name="f")
    return FlightSource(made.raster_path, made.labels_path)


@pytest.fixture
def model(tiny_yolo: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny real model and its card."""
    folder = tmp_path / "model"
    folder.mkdir()
    copy = folder / "tiny.pt"
    shutil.copy2(tiny_yolo, copy)
    shutil.copy2(ModelCard.sidecar_path(tiny_yolo), ModelCard.sidecar_path(copy))
    return copy


# --- train -------------------------------------------------------------------------------


def test_train_merges_config_dataset_card_and_options(
    dataset: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {"epochs": 5, "batch": 2, "workers": 0, "name": "tiny-run", "version": "0.0.1"}
        )
    )
    run_dir = tmp_path / "run"
    args = ["train", "--data", dataset, "--config", config, "--epochs", "1", "-o", run_dir]
    proc = poppyscan(env, tmp_path, *args, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    weights = run_dir / "tiny-run.pt"
    assert f"wrote {weights}" in proc.stdout
    assert "training" in proc.stderr and "epoch" in proc.stderr, "a progress bar in epochs"
    card = ModelCard.load(weights)
    assert (card.name, card.version) == ("tiny-run", "0.0.1")  # from the YAML
    assert card.training["epochs_run"] == 1  # the option beats the YAML
    assert (card.gsd_m, card.tile_size_px, card.overlap_px) == (0.04, 320, 64)  # the dataset's


def test_train_bad_input(
    dataset: Path, tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = poppyscan(env, tmp_path, "train", "--data", tmp_path / "nope" / "data.yaml")
    assert_bad_input(missing, "no such dataset data.yaml")
    conflict = poppyscan(env, tmp_path, "train", "--data", dataset, "--imgsz", "640")
    assert_bad_input(conflict, "tile_size_px 640 conflicts with the dataset's 320")
    (tmp_path / "bad.yaml").write_text("epochs: 1\nlearning_rate: 0.1\n")
    cases = [
        (["--config", tmp_path / "bad.yaml"], "unknown training settings ['learning_rate']"),
        (["--init", tmp_path / "nope.pt"], "no such weights file"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--device", "gpu"], "--device wants auto, cpu or cuda:N"),
    ]
    for args, expected in cases:
        assert_bad_input(in_process(capsys, "train", "--data", dataset, *args), expected)
    no_data = in_process(capsys, "train", "-o", tmp_path / "run")
    assert_bad_input(no_data, "give the dataset with --data")
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


# --- evaluate ----------------------------------------------------------------------------


def test_evaluate_and_compare_write_reports(
    model: Path, flight: FlightSource, tmp_path: Path, env: dict[str, str]
) -> None:
    out = tmp_path / "eval"
    proc = poppyscan(
        env,
        tmp_path,
        "evaluate",
        "--model",
        model,
        "--flight",
        flight.raster,
        flight.labels,
        "--flight",
        flight.raster,
        flight.labels,
        "-o",
        out,
        "--compare",
        model,
        "--backend",
        "pytorch",
        "--device",
        "cpu",
        "--conf",
        "0.3",
    )
    assert proc.returncode == 0, proc.stderr
    assert "plot recall" in proc.stdout and "comparison.md" in proc.stdout
    assert "tile" in proc.stderr, "progress bars per flight"
    report = json.loads((out / "report.json").read_text())
    assert report["flight_count"] == 2 and report["operating_conf"] == 0.3
    assert report["model"]["name"] == "tiny-random"
    labels = json.loads(flight.labels.read_text())["features"]
    stages = {f"{f['properties']['class']}/{f['properties']['stage']}" for f in labels}
    assert set(report["plots"]["by_stage"]) == stages
    assert report["plots"]["truths"] == 2 * sum(f["properties"]["kind"] == "plot" for f in labels)
    for png in (out / "pr_curve.png", out / "pr_curve_comparison.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "current" / "report.md").is_file()
    compared = json.loads((out / "comparison.json").read_text())
    assert all(r["change"] in (0, None) for r in compared["metrics"]), "same model, same numbers"
    assert "| plot recall |" in (out / "comparison.md").read_text()


def test_evaluate_bad_input(
    model: Path,
    flight: FlightSource,
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["evaluate", "-o", tmp_path / "eval", "--backend", "pytorch"]
    missing = poppyscan(
        env, tmp_path, *base, "--model", model, "--flight", flight.raster, tmp_path / "no.geojson"
    )
    assert_bad_input(missing, "no such label file")
    monkeypatch.setenv("POPPYSCAN_MODELS", env["POPPYSCAN_MODELS"])
    good_flight = ["--flight", flight.raster, flight.labels]
    unknown = in_process(capsys, *base, "--model", "tiny-random:9.9", *good_flight)
    assert_bad_input(unknown, "no model named 'tiny-random'")
    no_raster = in_process(capsys, *base, "--flight", tmp_path / "gone.tif", flight.labels)
    assert_bad_input(no_raster, "gone.tif: no such raster")
    assert not (tmp_path / "eval").exists()


# --- models and the scan default ---------------------------------------------------------


def test_models_register_list_default_show_and_scan_uses_the_default(
    model: Path,
    flight: FlightSource,
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = tmp_path / "bare.pt"
    shutil.copy2(model, bare)
    assert_bad_input(poppyscan(env, tmp_path, "models", "register", bare), "no model card")

    proc = poppyscan(env, tmp_path, "models", "register", model, "--version", "1.0.0")
    assert proc.returncode == 0 and "registered tiny-random 1.0.0" in proc.stdout
    again = poppyscan(env, tmp_path, "models", "register", model, "--version", "1.0.0")
    assert_bad_input(again, "already registered")

    listing = poppyscan(env, tmp_path, "models", "list")
    assert listing.returncode == 0 and "tiny-random  1.0.0" in listing.stdout
    assert "default: the shipped model" in listing.stdout

    unknown = poppyscan(env, tmp_path, "models", "set-default", "tiny-random:2.0")
    assert_bad_input(unknown, "has no version '2.0' (registered versions: 1.0.0)")
    chosen = poppyscan(env, tmp_path, "models", "set-default", "tiny-random")
    assert chosen.returncode == 0 and "tiny-random 1.0.0 is now the default" in chosen.stdout
    assert_bad_input(poppyscan(env, tmp_path, "models", "show", "nope"), "no model named 'nope'")

    # `poppyscan scan` without --model scans with the registry's default (in this process:
    # PyTorch is already loaded here, a new process would spend seconds importing it).
    monkeypatch.setenv("POPPYSCAN_MODELS", env["POPPYSCAN_MODELS"])
    out = tmp_path / "s.geojson"
    args = ["scan", str(flight.raster), "-o", str(out), "--backend", "pytorch", "--json"]
    assert main([*args, "--device", "cpu"]) == 0
    provenance = json.loads(capsys.readouterr().out)["provenance"]["model"]
    assert (provenance["name"], provenance["version"]) == ("tiny-random", "1.0.0")


# --- export ------------------------------------------------------------------------------


def test_export_onnx_is_recorded_in_the_card(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process: the export needs PyTorch, which the tiny model already loaded here.
    assert main(["export", "--model", str(model), "--format", "onnx"]) == 0
    onnx = model.with_suffix(".onnx")
    assert f"wrote {onnx}" in capsys.readouterr().out and onnx.stat().st_size > 100_000
    card = ModelCard.load(model)
    assert card.exports["onnx"] == onnx.name and len(card.exports["source_sha256"]) == 64
    assert ModelCard.load(onnx).name == "tiny-random", "the export carries its own card"


def test_export_bad_input(
    model: Path,
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = tmp_path / "bare.pt"
    shutil.copy2(model, bare)
    no_card = poppyscan(env, tmp_path, "export", "--model", bare, "--format", "onnx")
    assert_bad_input(no_card, "no model card")
    monkeypatch.setenv("POPPYSCAN_MODELS", env["POPPYSCAN_MODELS"])
    int8 = in_process(capsys, "export", "--model", model, "--format", "int8")
    assert_bad_input(int8, "--format int8 needs --calibration")
    missing = in_process(capsys, "export", "--model", "ghost:1", "--format", "onnx")
    assert_bad_input(missing, "no model named 'ghost'")
    assert sorted(p.name for p in model.parent.iterdir()) == ["tiny.pt", "tiny.pt.card.json"]
