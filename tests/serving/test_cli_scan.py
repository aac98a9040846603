"""`poppyscan scan`: bad input gives one clear line and leaves nothing behind; good input works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from doubles import make_card
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning
from rasters import squares, truncate, write_raster

from detector.card import sha256_of
from serving.cli import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, main

ERROR_PREFIX = "poppyscan: error:"

# Each bad input: how to make it (given the input folder and a good model) and what the
# one line on stderr must say.
BadInput = Callable[[Path, Path], tuple[Path, Path]]


def _good_raster(folder: Path) -> Path:
    return write_raster(folder / "flight.tif", width=256, height=256, paint=squares((50, 50, 20)))


def _not_a_raster(folder: Path, model: Path) -> tuple[Path, Path]:
    path = folder / "flight.tif"
    path.write_text("these are the pilot's notes, not an orthomosaic\n")
    return path, model


def _no_georeferencing(folder: Path, model: Path) -> tuple[Path, Path]:
    path = folder / "flight.tif"
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 3, "dtype": "uint8"}
    with warnings.catch_warnings():  # rasterio warns while writing it; that is the point
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.full((3, 64, 64), 90, dtype=np.uint8))
    return path, model


def _truncated(folder: Path, model: Path) -> tuple[Path, Path]:
    path = write_raster(folder / "flight.tif", width=1024, height=1024, block=256)
    return truncate(path, 0.6), model


def _no_valid_pixels(folder: Path, model: Path) -> tuple[Path, Path]:
    return write_raster(folder / "flight.tif", nodata=0, paint=lambda d: d.fill(0)), model


def _random_bytes_model(folder: Path, model: Path) -> tuple[Path, Path]:
    bogus = folder / "model.pt"
    bogus.write_bytes(np.random.default_rng(1).bytes(8192))
    make_card().save(bogus)
    return _good_raster(folder), bogus


def _zip_that_is_not_a_model(folder: Path, model: Path) -> tuple[Path, Path]:
    bogus = folder / "model.pt"
    with zipfile.ZipFile(bogus, "w") as archive:
        archive.writestr("weights/readme.txt", "nothing to see")
    make_card().save(bogus)
    return _good_raster(folder), bogus


def _model_without_card(folder: Path, model: Path) -> tuple[Path, Path]:
    bare = folder / "bare.pt"
    bare.write_bytes(model.read_bytes())
    return _good_raster(folder), bare


def _missing_raster(folder: Path, model: Path) -> tuple[Path, Path]:
    return folder / "never-flown.tif", model


def _multispectral_without_bands(folder: Path, model: Path) -> tuple[Path, Path]:
    return write_raster(folder / "flight.tif", count=5, photometric="MINISBLACK"), model


BAD_INPUTS: dict[str, tuple[BadInput, str]] = {
    "not a raster": (_not_a_raster, "is not a raster poppyscan can read"),
    "no georeferencing": (_no_georeferencing, "has no georeferencing"),
    "truncated": (_truncated, "corrupt or truncated"),
    "no valid pixels": (_no_valid_pixels, "has no valid pixels"),
    "model is random bytes": (_random_bytes_model, "is not a PyTorch weights file"),
    "model is a zip of something else": (_zip_that_is_not_a_model, "could not be loaded"),
    "model without card": (_model_without_card, "no model card"),
    "missing raster": (_missing_raster, "no such file"),
    "multispectral without --bands": (_multispectral_without_bands, "--bands R,G,B"),
}
# The list, also run as a real process (warnings and GDAL messages go to fd 2).
SUBPROCESS_CASES = [
    "not a raster",
    "no georeferencing",
    "truncated",
    "no valid pixels",
    "model is random bytes",
]


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _scan_args(raster: Path, model: Path, out_dir: Path) -> list[str]:
    return [
        "scan",
        str(raster),
        "--model",
        str(model),
        "--backend",
        "pytorch",
        "--device",
        "cpu",
        "-o",
        str(out_dir / "suspects.geojson"),
        "-o",
        str(out_dir / "suspects.gpkg"),
        "--chips",
        str(out_dir / "chips"),
    ]


def _assert_one_error_line(stderr: str, expected: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"want one line on stderr, got {lines!r}"
    assert lines[0].startswith(ERROR_PREFIX)
    assert expected in lines[0]
    assert "Traceback" not in stderr and "Warning" not in stderr


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_and_leaves_nothing(
    case: str,
    tiny_yolo: Path,
    raster_dir: Path,
    out_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, expected = BAD_INPUTS[case]
    raster, model = make(raster_dir, tiny_yolo)
    inputs_before = _listing(raster_dir)
    code = main(_scan_args(raster, model, out_dir))
    captured = capsys.readouterr()
    assert code == EXIT_BAD_INPUT != 0
    _assert_one_error_line(captured.err, expected)
    assert captured.out == ""
    assert _listing(out_dir) == [], "no output, chip folder or temporary file is left"
    assert _listing(raster_dir) == inputs_before, "nothing is written beside the input"


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_bad_input_as_a_process(
    case: str, tiny_yolo: Path, raster_dir: Path, out_dir: Path, tmp_path: Path
) -> None:
    make, expected = BAD_INPUTS[case]
    raster, model = make(raster_dir, tiny_yolo)
    env = {**os.environ, "POPPYSCAN_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "serving.cli", *_scan_args(raster, model, out_dir)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == EXIT_BAD_INPUT
    _assert_one_error_line(proc.stderr, expected)
    assert proc.stdout == ""
    assert _listing(out_dir) == []


def test_a_reader_that_goes_away_is_a_quiet_exit(tmp_path: Path) -> None:
    """``poppyscan models list --json | head``: the pipe closes before a byte is written."""
    env = {**os.environ, "POPPYSCAN_MODELS": str(tmp_path / "registry")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "models", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone
    errors = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert errors == ""


def test_output_problems_fail_before_scanning(
    tiny_yolo: Path, raster_dir: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raster = _good_raster(raster_dir)
    base = ["scan", str(raster), "--model", str(tiny_yolo), "--backend", "pytorch"]
    assert main([*base, "-o", str(out_dir / "suspects.shp")]) == EXIT_BAD_INPUT
    _assert_one_error_line(capsys.readouterr().err, "cannot tell the output format")
    assert main([*base, "-o", str(out_dir / "nope" / "s.geojson")]) == EXIT_BAD_INPUT
    _assert_one_error_line(capsys.readouterr().err, "does not exist")
    two = ["-o", str(out_dir / "a.geojson"), "-o", str(out_dir / "b.csv"), "--format", "kml"]
    assert main([*base, *two]) == EXIT_BAD_INPUT
    _assert_one_error_line(capsys.readouterr().err, "--format applies to a single -o")
    assert _listing(out_dir) == []


@pytest.mark.parametrize("bad", ["1,2", "r,g,b", "0,1,2"])
def test_bad_bands_argument_is_a_usage_error(
    bad: str, raster_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", str(_good_raster(raster_dir)), "--bands", bad])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--bands" in err and "Traceback" not in err


def test_help_reads_like_documentation(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for text in ("--model", "--chips", "--bands", "--conf", "examples:", ".gpkg"):
        assert text in out


# --- good input -------------------------------------------------------------------------


def test_scan_writes_every_output_and_a_json_summary(
    tiny_yolo: Path, raster_dir: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raster = write_raster(raster_dir / "flight.tif", width=600, height=400)
    outputs = [out_dir / f"suspects.{ext}" for ext in ("geojson", "gpkg", "kml", "gpx", "csv")]
    args = ["scan", str(raster), "--model", str(tiny_yolo), "--backend", "pytorch"]
    args += ["--device", "cpu", "--conf", "0.01", "--json"]
    for out in outputs:
        args += ["-o", str(out)]
    assert main(args) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["outputs"] == [str(p) for p in outputs]
    assert all(p.is_file() and p.stat().st_size > 0 for p in outputs)
    # 320 px tiles striding 256 px (one block): columns at 0, 256, 280; rows at 0, 80.
    assert summary["tiles_total"] == summary["tiles_scanned"] == 6
    assert summary["provenance"]["model"]["sha256"] == sha256_of(tiny_yolo)
    assert summary["provenance"]["thresholds"]["confidence"] == 0.01
    assert summary["area_scanned_ha"] == pytest.approx(600 * 400 * 0.02**2 / 1e4, abs=1e-3)
    geojson = json.loads(outputs[0].read_text())
    assert len(geojson["features"]) == summary["plots"]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in outputs)


def test_scan_default_output_text_summary_and_progress(
    tiny_yolo: Path,
    raster_dir: Path,
    out_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(out_dir)
    raster = write_raster(raster_dir / "flight.tif", width=300, height=300)
    assert main(["scan", str(raster), "--model", str(tiny_yolo), "--backend", "pytorch"]) == 0
    captured = capsys.readouterr()
    default = out_dir / "flight.suspects.geojson"
    assert default.is_file()
    assert "suspected plot(s)" in captured.out and f"wrote {default.name}" in captured.out
    assert "scanning" in captured.err and "tile" in captured.err, "a progress bar on stderr"
    assert json.loads(default.read_text())["type"] == "FeatureCollection"


def test_scan_with_bands_override(
    tiny_yolo: Path, raster_dir: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raster = write_raster(raster_dir / "ms.tif", count=5, photometric="MINISBLACK")
    out = out_dir / "s.geojson"
    args = ["scan", str(raster), "--model", str(tiny_yolo), "--backend", "pytorch"]
    assert main([*args, "--bands", "3,2,1", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["provenance"]["raster"]["bands"] == [3, 2, 1]
    labelled = write_raster(
        raster_dir / "labelled.tif",
        count=5,
        photometric="MINISBLACK",
        colorinterp=[ColorInterp.blue, ColorInterp.green, ColorInterp.red]
        + [ColorInterp.undefined] * 2,
    )
    assert main(["scan", str(labelled), "--model", str(tiny_yolo), "--backend", "pytorch",
                 "-o", str(out), "--json", "--quiet"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["provenance"]["raster"]["bands"] == [3, 2, 1]
