"""Model registry: atomic registration of weights + card + exports + report; default model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detector.backends import default_model_path
from detector.card import ModelCard, sha256_of
from detector.errors import ModelError
from training.registry import Registry, RegistryError, default_root, version_key


@pytest.fixture
def model(tiny_yolo: Path, tmp_path: Path) -> Path:
    """The tiny real model in a folder of its own, with an INT8-style export beside it."""
    folder = tmp_path / "run"
    folder.mkdir()
    weights = folder / "tiny.pt"
    shutil.copy2(tiny_yolo, weights)
    export = folder / "tiny_int8_openvino_model"
    export.mkdir()
    (export / "model.xml").write_text("<net/>")
    card = ModelCard.load(tiny_yolo)
    card.save(export)  # an export that carries its own card
    exports = {"openvino_int8": export.name, "source_sha256": sha256_of(weights)}
    ModelCard(**{**card.to_dict(), "classes": card.classes, "exports": exports}).save(weights)
    return weights


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry")


def _report(tmp_path: Path) -> Path:
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "report.md").write_text("# report\n")
    return folder


def test_register_copies_weights_card_exports_and_report(
    registry: Registry, model: Path, tmp_path: Path
) -> None:
    entry = registry.register(model, "poppy-net", "1.2.0", report=_report(tmp_path))
    assert entry.weights == registry.root / "poppy-net" / "1.2.0" / "tiny.pt"
    assert entry.weights.read_bytes() == model.read_bytes()
    assert entry.sha256 == sha256_of(model) and entry.source == str(model.resolve())
    copied = ModelCard.load(entry.weights)
    assert (copied.name, copied.version) == ("poppy-net", "1.2.0")
    assert ModelCard.load(model).name == "tiny-random", "the original card is untouched"
    assert entry.exports == {"openvino_int8": entry.directory / "tiny_int8_openvino_model"}
    assert (entry.exports["openvino_int8"] / "model.xml").is_file()
    assert ModelCard.load(entry.exports["openvino_int8"]).name == "poppy-net"
    assert entry.evaluation is not None and (entry.evaluation / "report.md").is_file()
    assert [p.name for p in entry.directory.parent.iterdir()] == ["1.2.0"], "no staging left"
    assert entry.to_dict()["card"]["name"] == "poppy-net"


def test_register_defaults_to_the_cards_name_and_version(registry: Registry, model: Path) -> None:
    entry = registry.register(model)
    assert (entry.name, entry.version) == ("tiny-random", "0.0")


def test_duplicates_and_models_without_cards_are_refused(
    registry: Registry, model: Path, tmp_path: Path
) -> None:
    registry.register(model, "m", "1.0")
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(model, "m", "1.0")
    bare = tmp_path / "bare.pt"
    shutil.copy2(model, bare)
    with pytest.raises(ModelError, match="no model card"):
        registry.register(bare, "m", "2.0")
    with pytest.raises(ModelError, match="no such model file"):
        registry.register(tmp_path / "missing.pt", "m", "3.0")
    with pytest.raises(RegistryError, match="not usable"):
        registry.register(model, "../escape", "1.0")
    assert [m.version for m in registry.list()] == ["1.0"]
    assert sorted(p.name for p in (registry.root / "m").iterdir()) == ["1.0"]


def test_a_failed_copy_leaves_nothing_behind(
    registry: Registry, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_copytree(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copytree", broken_copytree)
    with pytest.raises(OSError, match="disk full"):
        registry.register(model, "m", "1.0", report=_report(tmp_path))
    assert list((registry.root / "m").iterdir()) == []
    assert registry.list() == []


def test_latest_by_version_and_unknown_versions(registry: Registry, model: Path) -> None:
    for version in ("0.9.2", "0.10.0", "0.10.0rc1"):
        registry.register(model, "m", version)
    registry.register(model, "a-model", "1")
    assert [(m.name, m.version) for m in registry.list()] == [
        ("a-model", "1"),
        ("m", "0.9.2"),
        ("m", "0.10.0rc1"),
        ("m", "0.10.0"),
    ]
    assert registry.get("m").version == "0.10.0"
    assert registry.get("m", "0.9.2").weights.is_file()
    with pytest.raises(RegistryError, match=r"no version '2\.0'.*0\.9\.2, 0\.10\.0rc1, 0\.10\.0"):
        registry.get("m", "2.0")
    with pytest.raises(RegistryError, match=r"no model named 'nope'.*a-model, m"):
        registry.get("nope")


def test_default_is_the_shipped_model_until_one_is_chosen(registry: Registry, model: Path) -> None:
    assert registry.default_version() is None
    assert registry.default() == default_model_path()
    registry.register(model, "m", "1.0")
    registry.register(model, "m", "1.1")
    assert registry.default() == default_model_path(), "registering does not change it"
    chosen = registry.set_default("m", "1.0")
    assert registry.default() == chosen.weights == registry.get("m", "1.0").weights
    assert registry.set_default("m").version == "1.1"
    assert json.loads((registry.root / "default.json").read_text()) == {
        "name": "m",
        "version": "1.1",
    }
    shutil.rmtree(registry.root / "m" / "1.1")
    with pytest.raises(RegistryError, match="no longer in the registry"):
        registry.default()


def test_resolve_paths_names_and_versions(registry: Registry, model: Path, tmp_path: Path) -> None:
    first = registry.register(model, "m", "1.0")
    latest = registry.register(model, "m", "1.1")
    assert registry.resolve(model) == model
    assert registry.resolve("m") == latest.weights
    assert registry.resolve("m:1.0") == first.weights
    assert registry.resolve(None) == default_model_path()
    assert registry.resolve(tmp_path / "missing.pt") == tmp_path / "missing.pt"
    with pytest.raises(RegistryError, match="no version '9'"):
        registry.resolve("m:9")


def test_root_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POPPYSCAN_MODELS", str(tmp_path / "elsewhere"))
    assert default_root() == Registry().root == tmp_path / "elsewhere"
    monkeypatch.delenv("POPPYSCAN_MODELS")
    assert default_root() == Path.home() / ".local" / "share" / "poppyscan" / "models"


def test_version_order() -> None:
    ordered = ["0.1", "0.1.0", "0.2.0", "0.10.0rc1", "0.10.0", "2026.1.1", "2026.11.1"]
    assert sorted(reversed(ordered), key=version_key) == ordered


def test_default_is_a_reserved_reference(registry: Registry, model: Path) -> None:
    assert registry.resolve("default") == default_model_path()
    with pytest.raises(RegistryError, match="stands for the default model"):
        registry.register(model, "default", "1.0")
    chosen = registry.register(model, "m", "1.0")
    registry.set_default("m")
    assert registry.resolve("default") == chosen.weights
