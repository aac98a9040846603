"""YOLO / COCO / VOC importers: round trips, bad input, class remapping, re-tiling, the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from rasters import write_raster

from detector.card import ModelCard
from detector.raster import inspect_raster
from detector.scan import DEFAULT_GSD_TOLERANCE, plan_for
from training.dataset import DatasetError
from training.importers import (
    ClassMap,
    ImageLabels,
    ImportSplit,
    apply_class_map,
    build_from_images,
    read_coco,
    read_voc,
    read_voc_file,
    read_yolo,
    write_coco,
    write_voc,
    write_yolo,
)
from training.importers.tiles import georeference_of
from training.yolo_tiles import LabelBox, yolo_rows

CLASSES = ("tree", "shrub")
# (name, width, height, subset, label lines or None for an image without a label file)
YOLO_IMAGES = [
    ("a", 64, 48, "train", ["0 0.250000 0.312500 0.171875 0.229167", "1 0.703125 0.5 0.3125 0.4"]),
    ("b", 80, 80, "train", ["1 0.123457 0.876543 0.1 0.098765"]),
    ("c", 50, 70, "val", ["0 0.5 0.5 0.333333 0.777777", "0 0.9 0.1 0.2 0.2"]),
    ("d", 40, 40, "val", None),
]


def _png(path: Path, width: int, height: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    return path


@pytest.fixture
def yolo_root(tmp_path: Path) -> Path:
    root = tmp_path / "yolo"
    for i, (name, width, height, subset, lines) in enumerate(YOLO_IMAGES):
        _png(root / "images" / subset / f"{name}.png", width, height, seed=i)
        if lines is not None:
            label = root / "labels" / subset / f"{name}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"names": list(CLASSES)}))
    return root


def _yolo_values(root: Path) -> dict[str, list[list[float]]]:
    """Label values of every image by name, from the text files (original precision)."""
    out = {}
    for image in sorted((root / "images").rglob("*.png")):
        label = (root / "labels" / image.relative_to(root / "images")).with_suffix(".txt")
        text = label.read_text() if label.is_file() else ""
        out[image.stem] = sorted([float(v) for v in line.split()] for line in text.splitlines())
    return out


def test_yolo_coco_voc_yolo_round_trip_keeps_every_box(yolo_root: Path, tmp_path: Path) -> None:
    items, classes = read_yolo(yolo_root)
    assert classes == CLASSES
    assert [(i.image.stem, i.subset, len(i.boxes)) for i in items] == [
        ("a", "train", 2),
        ("b", "train", 1),
        ("c", "val", 2),
        ("d", "val", 0),
    ]
    a = items[0]
    assert (a.width_px, a.height_px) == (64, 48)
    assert (a.boxes[0].col0_px, a.boxes[0].row0_px) == pytest.approx((10.5, 9.5))
    assert (a.boxes[0].col1_px, a.boxes[0].row1_px) == pytest.approx((21.5, 20.5), abs=1e-4)

    coco = write_coco(items, tmp_path / "coco" / "instances.json", yolo_root, classes)
    from_coco, coco_classes = read_coco(coco, yolo_root)
    assert coco_classes == CLASSES
    voc_dir = tmp_path / "voc"
    write_voc(from_coco, voc_dir)
    from_voc = read_voc(voc_dir)
    write_yolo(from_voc, tmp_path / "yolo2", CLASSES)
    final, final_classes = read_yolo(tmp_path / "yolo2")

    assert final_classes == CLASSES
    before, after = _yolo_values(yolo_root), _yolo_values(tmp_path / "yolo2")
    assert before.keys() == after.keys()
    for name in before:
        assert np.allclose(np.array(after[name]), np.array(before[name]), atol=1e-6, rtol=0), name
    by_name = {i.image.stem: i for i in final}
    for item in items:
        for box, again in zip(item.boxes, by_name[item.image.stem].boxes, strict=True):
            assert again.class_name == box.class_name
            corners = (box.col0_px, box.row0_px, box.col1_px, box.row1_px)
            assert (again.col0_px, again.row0_px, again.col1_px, again.row1_px) == pytest.approx(
                corners, abs=0.5
            )


# --- bad input: DatasetError naming the file ----------------------------------------------


def _voc_xml(image: str, boxes: list[tuple[str, str, str, str, str]], size=(64, 48)) -> str:
    objects = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
        f"<ymax>{y1}</ymax></bndbox></object>"
        for n, x0, y0, x1, y1 in boxes
    )
    return (
        f"<annotation><filename>{image}</filename><size><width>{size[0]}</width>"
        f"<height>{size[1]}</height></size>{objects}</annotation>"
    )


def _coco(boxes: list[list[float]], file_name: str = "a.png") -> dict:
    return {
        "images": [{"id": 1, "file_name": file_name, "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "tree"}],
        "annotations": [
            {"id": i, "image_id": 1, "category_id": 1, "bbox": b} for i, b in enumerate(boxes)
        ],
    }


BAD_VOC = {
    "malformed xml": ("<annotation><filename>a.png</filename><object>", "malformed XML"),
    "not voc": ("<coco/>", "not a Pascal VOC"),
    "negative width": (_voc_xml("a.png", [("tree", "30", "5", "10", "20")]), "negative or zero"),
    "outside image": (_voc_xml("a.png", [("tree", "50", "5", "90", "20")]), "lies outside"),
    "missing image": (_voc_xml("gone.png", [("tree", "1", "1", "5", "5")]), "not found"),
    "text coordinate": (_voc_xml("a.png", [("tree", "one", "1", "5", "5")]), "not numbers"),
}


@pytest.mark.parametrize("case", BAD_VOC, ids=list(BAD_VOC))
def test_bad_voc_names_the_file(case: str, tmp_path: Path) -> None:
    text, expected = BAD_VOC[case]
    _png(tmp_path / "a.png", 64, 48)
    xml = tmp_path / "a.xml"
    xml.write_text(text)
    with pytest.raises(DatasetError, match=re.escape(expected)) as info:
        read_voc(tmp_path)
    assert str(xml) in str(info.value)


BAD_COCO = {
    "truncated json": ('{"images": [', "is not valid JSON"),
    "not coco": ('{"images": []}', "is not COCO detection JSON"),
    "negative height": (json.dumps(_coco([[1, 1, 5, -3]])), "negative or zero"),
    "outside image": (json.dumps(_coco([[60, 10, 20, 5]])), "lies outside"),
    "bbox not 4 numbers": (json.dumps(_coco([[1, 1, 5]])), "is not [x, y, width, height]"),
    "missing image": (json.dumps(_coco([[1, 1, 5, 5]], "gone.png")), "not found"),
}


@pytest.mark.parametrize("case", BAD_COCO, ids=list(BAD_COCO))
def test_bad_coco_names_the_file(case: str, tmp_path: Path) -> None:
    text, expected = BAD_COCO[case]
    _png(tmp_path / "a.png", 64, 48)
    path = tmp_path / "instances.json"
    path.write_text(text)
    with pytest.raises(DatasetError, match=re.escape(expected)) as info:
        read_coco(path, tmp_path)
    assert str(path) in str(info.value)


def test_missing_inputs_are_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such COCO"):
        read_coco(tmp_path / "nope.json", tmp_path)
    with pytest.raises(DatasetError, match="no such VOC"):
        read_voc(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no such YOLO"):
        read_yolo(tmp_path / "nope")


@pytest.mark.parametrize(
    ("line", "expected"),
    [("0 0.5 0.5 0.2", "is not 'class cx cy w h'"), ("7 0.5 0.5 0.2 0.2", "class 7 is not")],
)
def test_bad_yolo_line_names_file_and_line(yolo_root: Path, line: str, expected: str) -> None:
    label = yolo_root / "labels" / "train" / "b.txt"
    label.write_text(f"1 0.5 0.5 0.1 0.1\n{line}\n")
    with pytest.raises(DatasetError, match=re.escape(expected)) as info:
        read_yolo(yolo_root)
    assert f"{label} line 2" in str(info.value)


# --- class names ------------------------------------------------------------------------


def test_class_map_renames_and_counts_noisy_names(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 64, 48)
    names = ["Tree", "Tree", "Tree\\", "", "shrub", "tree"]
    boxes = [(n, str(i), "1", str(i + 5), "6") for i, n in enumerate(names)]
    (tmp_path / "a.xml").write_text(_voc_xml("a.png", boxes))
    items = read_voc(tmp_path)
    assert [b.class_name for b in items[0].boxes] == names

    class_map = ClassMap.parse(["Tree=tree,Tree\\=tree", "=tree"])
    with pytest.raises(DatasetError, match=r"'shrub': 1 box\(es\)"):
        apply_class_map(items, class_map, ("tree",))
    mapped, report = apply_class_map(items, class_map, ("tree",), unknown="drop")
    assert [b.class_name for b in mapped[0].boxes] == ["tree"] * 5
    assert report.boxes == 5
    assert dict(report.remapped) == {("Tree", "tree"): 2, ("Tree\\", "tree"): 1, ("", "tree"): 1}
    assert dict(report.dropped) == {"shrub": 1}
    assert "4 renamed" in report.summary() and "1 dropped" in report.summary()

    _, report = apply_class_map(items, ClassMap.parse(["*=tree"]), ("tree",))
    assert report.boxes == 6 and sum(report.remapped.values()) == 5  # 'tree' was already tree
    with pytest.raises(DatasetError, match="is not SOURCE=TARGET"):
        ClassMap.parse(["Tree"])


# --- re-tiling to a model card ----------------------------------------------------------

CARD = ModelCard(
    name="t", version="0", classes=("tree",), gsd_m=0.04, tile_size_px=64, overlap_px=16
)


def test_plain_images_need_a_gsd_and_are_resampled_to_the_card(tmp_path: Path) -> None:
    image = _png(tmp_path / "src" / "plain.png", 200, 100)
    item = ImageLabels(image, 200, 100, (LabelBox(20, 20, 40, 40, "tree"),), tmp_path / "x.txt")
    split = ImportSplit("image", val_patterns=("*/nothing/*",))
    with pytest.raises(DatasetError, match=r"not georeferenced.*--image-gsd"):
        build_from_images([item], CARD, tmp_path / "ds", split=split, name="p")
    assert not (tmp_path / "ds").exists(), "nothing is written before every image is checked"
    with pytest.raises(DatasetError, match="no tile in val"):
        build_from_images([item], CARD, tmp_path / "ds", split=split, name="p", image_gsd_m=0.02)

    other = _png(tmp_path / "val" / "other.png", 100, 100, seed=3)
    val_item = ImageLabels(other, 100, 100, (), tmp_path / "y.txt")
    split = ImportSplit("image", val_patterns=("*/val/*",))
    data_yaml, counts = build_from_images(
        [item, val_item], CARD, tmp_path / "ds2", split=split, name="p", image_gsd_m=0.02
    )
    # 2 cm images for a 4 cm model: 128 source px per 64 px tile, stride (64 - 16) * 2 = 96.
    first = (tmp_path / "ds2" / "labels" / "train" / "plain_00000.txt").read_text().split()
    assert [float(v) for v in first] == pytest.approx([0, 30 / 128, 30 / 128, 20 / 128, 20 / 128])
    tile = cv2.imread(str(tmp_path / "ds2" / "images" / "train" / "plain_00000.jpg"))
    assert tile.shape == (64, 64, 3)
    assert counts.splits["val"]["images"] == 1 and counts.splits["train"]["boxes"] == 1
    card = yaml.safe_load((data_yaml.parent / "dataset-card.yaml").read_text())
    assert card["split"] == "by image" and card["image_gsd_m"] == 0.02


def _geotiff_voc(folder: Path, name: str, boxes: list[tuple[str, str, str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raster = write_raster(folder / f"{name}.tif", width=300, height=200, gsd_m=0.02, seed=len(name))
    (folder / f"{name}.xml").write_text(_voc_xml(raster.name, boxes, size=(300, 200)))
    return raster


def test_georeferenced_images_are_cut_like_flights(tmp_path: Path) -> None:
    raster = _geotiff_voc(tmp_path / "site_a", "plot1", [("Tree", "100", "50", "130", "90")])
    _geotiff_voc(tmp_path / "site_b", "plot2", [("Tree", "10", "10", "40", "30")])
    items, _ = apply_class_map(
        read_voc(tmp_path / "site_a") + read_voc(tmp_path / "site_b"),
        ClassMap.parse(["Tree=tree"]),
        CARD.classes,
    )
    split = ImportSplit("image", val_patterns=("*/site_b/*",))
    build_from_images(items, CARD, tmp_path / "ds", split=split, name="geo")
    info = inspect_raster(raster)
    plan = plan_for(info, CARD, DEFAULT_GSD_TOLERANCE)
    written = sorted((tmp_path / "ds" / "labels" / "train").glob("plot1_*.txt"))
    assert [int(p.stem.split("_")[-1]) for p in written] == [w.index for w in plan]
    for path, window in zip(written, plan, strict=True):
        expected = yolo_rows(items[0].boxes, window, CARD.classes, CARD.tile_size_px)
        assert path.read_text().splitlines() == expected
    assert list((tmp_path / "ds" / "labels" / "val").glob("plot2_*.txt"))


def test_a_stale_declared_size_is_checked_against_the_real_image(tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "crop.tif", width=300, height=200, gsd_m=0.02)
    xml = tmp_path / "crop.xml"
    fits = ("tree", "10", "10", "40", "150")
    beyond = ("tree", "10", "210", "40", "350")  # inside the declared 400 rows, not the 200
    xml.write_text(_voc_xml(raster.name, [fits], size=(300, 400)))
    (item,) = read_voc(xml)
    fitted, info = georeference_of(item)
    assert info is not None and (fitted.width_px, fitted.height_px) == (300, 200)
    assert fitted.boxes == item.boxes
    xml.write_text(_voc_xml(raster.name, [fits, beyond], size=(300, 400)))
    split = ImportSplit("image", val_patterns=("*",))
    with pytest.raises(DatasetError, match=r"declares 300 x 400 px.*is 300 x 200 px") as info:
        build_from_images(read_voc(xml), CARD, tmp_path / "bad", split=split, name="crop")
    assert not (tmp_path / "bad").exists()
    assert "lies outside" in str(info.value) and str(xml) in str(info.value)


# --- real data: two NEON plots ------------------------------------------------------------


def test_neon_plots_import_with_every_xml_box(shared_data: Path, tmp_path: Path) -> None:
    neon = shared_data / "neon-trees"
    files = [neon / "HARV" / "HARV_024.xml", neon / "TEAK" / "TEAK_047.xml"]
    items = [read_voc_file(f) for f in files]
    for path, item in zip(files, items, strict=True):
        text = path.read_text()
        assert len(item.boxes) == len(re.findall(r"<object>", text)) > 0
        assert (item.width_px, item.height_px) == (400, 400)
    names = {b.class_name for item in items for b in item.boxes}
    assert {"", "Tree\\"} <= names  # the known label noise is read as written
    mapped, report = apply_class_map(items, ClassMap.parse(["*=tree"]), ("tree",))
    assert report.boxes == sum(len(i.boxes) for i in items)
    card = ModelCard(
        name="trees", version="0", classes=("tree",), gsd_m=0.1, tile_size_px=416, overlap_px=96
    )
    split = ImportSplit("image", val_patterns=("*/TEAK/*",))
    build_from_images(mapped, card, tmp_path / "ds", split=split, name="neon2")
    # 10 cm plots of 400 px for a 10 cm, 416 px model: one padded tile each, every box in it.
    for item, split_name in zip(mapped, ("train", "val"), strict=True):
        (label,) = (tmp_path / "ds" / "labels" / split_name).glob("*.txt")
        assert len(label.read_text().splitlines()) == len(item.boxes)
        tile = cv2.imread(str(tmp_path / "ds" / "images" / split_name / f"{label.stem}.jpg"))
        assert tile.shape == (416, 416, 3) and tile[404:].max() < 32  # zero padding (JPEG)


# --- the CLI, as a real process -----------------------------------------------------------


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run(
        [sys.executable, "-m", "serving.cli", "dataset", "build", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_builds_from_voc_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    _geotiff_voc(tmp_path / "voc", "plot1", [("Tree", "100", "50", "130", "90")])
    _geotiff_voc(tmp_path / "voc", "plot2", [("", "10", "10", "40", "30")])
    target = ["--gsd", "0.04", "--tile", "64", "--overlap", "16", "--classes", "tree"]
    good = _cli(
        ["--voc", str(tmp_path / "voc"), *target, "--class-map", "Tree=tree,=tree",
         "--split", "image", "--val-match", "*plot2*", "-o", str(tmp_path / "ds"),
         "--licence", "CC0"],
        tmp_path,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert "renamed ('' -> tree 1, 'Tree' -> tree 1)" in good.stdout
    card = yaml.safe_load((tmp_path / "ds" / "dataset-card.yaml").read_text())
    assert card["split"] == "by image" and card["licence"] == "CC0"
    assert card["class_map"]["boxes"] == 2 and (tmp_path / "ds" / "data.yaml").is_file()

    bad_xml = tmp_path / "bad" / "broken.xml"
    bad_xml.parent.mkdir()
    bad_xml.write_text("<annotation><object><name>Tree")
    for inputs, expected in (
        (["--voc", str(bad_xml.parent)], "malformed XML"),
        (["--voc", str(tmp_path / "voc"), "--class-map", "Tree=tree"], "'': 1 box(es)"),
    ):
        out = tmp_path / "never"
        bad = _cli([*inputs, *target, "--split", "blocks", "-o", str(out)], tmp_path)
        assert bad.returncode == 2
        lines = bad.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("poppyscan: error:"), bad.stderr
        assert expected in lines[0] and "Traceback" not in bad.stderr
        assert bad.stdout == "" and not out.exists(), "no half-written dataset is left"
