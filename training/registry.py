"""Model registry: named, versioned models with their cards, exports and evaluation reports.

A registry is a directory (``~/.local/share/poppyscan/models`` unless ``POPPYSCAN_MODELS`` or
an explicit path says otherwise) with one folder per model version::

    <root>/default.json                     which version `poppyscan scan` uses by default
    <root>/<name>/<version>/registry.json   sha256 of the weights, source path, when
    <root>/<name>/<version>/<weights>.pt    the weights, under their original file name
    <root>/<name>/<version>/<weights>.pt.card.json
    <root>/<name>/<version>/<stem>_int8_openvino_model/   exports named in the card
    <root>/<name>/<version>/evaluation/     report.md, report.json, pr_curve.png

A version is copied into a hidden staging folder and renamed into place, so a registry never
shows half a model, and a name + version is registered once: a retrained model gets a new
version. Versions compare part by part, numbers numerically (``0.10.0`` > ``0.9.2``;
``1.0.0rc1`` < ``1.0.0``). Until :meth:`Registry.set_default` picks one, the default is the
model shipped with poppyscan.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.backends import default_model_path
from detector.card import ModelCard, sha256_of
from detector.errors import ModelError
from detector.provenance import utc_now

log = logging.getLogger(__name__)

ENV_VAR = "POPPYSCAN_MODELS"
DEFAULT_FILE = "default.json"
ENTRY_FILE = "registry.json"
EVALUATION_DIR = "evaluation"
# The --model value that means "the default model", registered or shipped.
DEFAULT_REF = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
_MODEL_SUFFIXES = (".pt", ".onnx", ".xml")


class RegistryError(ModelError):
    """A registry operation is refused: duplicate, unknown name or version, bad name."""


def default_root() -> Path:
    """The registry directory: ``$POPPYSCAN_MODELS``, else ``~/.local/share/poppyscan/models``."""
    override = os.environ.get(ENV_VAR)
    return (
        Path(override).expanduser() if override else Path.home() / ".local/share/poppyscan/models"
    )


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a version string: dotted parts, numbers numerically, pre-releases first."""
    parts = re.split(r"[.\-+_]", version)
    return tuple((0, int(p)) if p.isdigit() else (-1, p) for p in parts)


def _check_name(kind: str, value: str) -> str:
    if kind == "name" and value == DEFAULT_REF:
        raise RegistryError(f"{DEFAULT_REF!r} stands for the default model; pick another name")
    if not _NAME.match(value) or value in (".", ".."):
        raise RegistryError(
            f"model {kind} {value!r} is not usable: use letters, digits, '.', '_', '+' and "
            "'-', starting with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version.

    Attributes:
        name: Model name.
        version: Version string.
        weights: Path of the weights inside the registry.
        card: The model card (name and version as registered).
        sha256: Hex sha256 of the weights.
        registered_utc: When it was registered, ISO 8601 UTC.
        source: Where the weights were registered from.
    """

    name: str
    version: str
    weights: Path
    card: ModelCard
    sha256: str
    registered_utc: str
    source: str

    @property
    def directory(self) -> Path:
        """The version's folder."""
        return self.weights.parent

    @property
    def evaluation(self) -> Path | None:
        """The evaluation report folder, if one was registered."""
        folder = self.directory / EVALUATION_DIR
        return folder if folder.is_dir() else None

    @property
    def exports(self) -> dict[str, Path]:
        """Export files or folders named in the card that exist beside the weights, by kind."""
        found = {}
        for kind, name in self.card.exports.items():
            path = self.directory / name
            if kind != "source_sha256" and path.exists():
                found[kind] = path
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (with the card)."""
        return {
            "name": self.name,
            "version": self.version,
            "weights": str(self.weights),
            "sha256": self.sha256,
            "registered_utc": self.registered_utc,
            "source": self.source,
            "exports": {k: str(v) for k, v in self.exports.items()},
            "evaluation": str(self.evaluation) if self.evaluation else None,
            "card": self.card.to_dict(),
        }


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)


class Registry:
    """A model registry directory.

    Args:
        root: The registry directory; :func:`default_root` when None. Created on first write.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()

    def register(
        self,
        weights: str | os.PathLike[str],
        name: str | None = None,
        version: str | None = None,
        *,
        report: str | os.PathLike[str] | None = None,
    ) -> ModelVersion:
        """Copy a model with its card, its exports and optionally a report into the registry.

        Args:
            weights: ``.pt`` / ``.onnx`` file or OpenVINO folder with its sidecar card.
            name: Registered name; the card's when None. The copy's card is rewritten to it.
            version: Registered version; the card's when None.
            report: An evaluation report folder (``poppyscan evaluate -o``) to keep with it.

        Raises:
            ModelError: no such weights, or no card beside them.
            RegistryError: the name + version is already registered, or is not usable.
        """
        source = Path(weights).expanduser()
        if not source.exists():
            raise ModelError(f"{source}: no such model file")
        card = ModelCard.load(source)
        name = _check_name("name", name or card.name)
        version = _check_name("version", version or card.version)
        report_dir = Path(report).expanduser() if report is not None else None
        if report_dir is not None and not report_dir.is_dir():
            raise RegistryError(f"{report_dir}: no such report folder")
        target = self.root / name / version
        if target.exists():
            raise RegistryError(
                f"{name} {version} is already registered ({target}); register the new model "
                "under another version"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=target.parent))
        try:
            _copy(source, staging / source.name)
            copied = dataclasses.replace(card, name=name, version=version)
            copied.save(staging / source.name)
            for kind, export in card.exports.items():
                path = source.parent / export
                if kind == "source_sha256" or not path.exists():
                    continue
                _copy(path, staging / path.name)
                if ModelCard.sidecar_path(path).is_file():  # an export's own card
                    own = ModelCard.load(path)
                    dataclasses.replace(own, name=name, version=version).save(staging / path.name)
            if report_dir is not None:
                shutil.copytree(report_dir, staging / EVALUATION_DIR)
            entry = {
                "name": name,
                "version": version,
                "weights": source.name,
                "sha256": sha256_of(source),
                "source": str(source.resolve()),
                "registered_utc": utc_now(),
            }
            (staging / ENTRY_FILE).write_text(json.dumps(entry, indent=2))
            staging.chmod(0o755)  # mkdtemp makes it private; the registry may be shared
            try:
                os.rename(staging, target)  # fails if another process registered it first
            except OSError as exc:
                raise RegistryError(f"{name} {version} is already registered ({target})") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.get(name, version)

    def _load(self, folder: Path) -> ModelVersion:
        entry = json.loads((folder / ENTRY_FILE).read_text())
        weights = folder / entry["weights"]
        return ModelVersion(
            name=entry["name"],
            version=entry["version"],
            weights=weights,
            card=ModelCard.load(weights),
            sha256=entry["sha256"],
            registered_utc=entry["registered_utc"],
            source=entry.get("source", ""),
        )

    def _versions(self, name: str) -> builtins.list[ModelVersion]:
        found = []
        folder = self.root / name
        for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
            if sub.name.startswith(".") or not (sub / ENTRY_FILE).is_file():
                continue
            try:
                found.append(self._load(sub))
            except (OSError, ValueError, KeyError, ModelError) as exc:
                log.warning("skipping broken registry entry %s: %s", sub, exc)
        return sorted(found, key=lambda m: version_key(m.version))

    def names(self) -> builtins.list[str]:
        """Registered model names, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            folder.name
            for folder in self.root.iterdir()
            if folder.is_dir() and any(folder.glob(f"[!.]*/{ENTRY_FILE}"))
        )

    def list(self) -> builtins.list[ModelVersion]:
        """Every registered version, by name, then oldest to newest version."""
        return [m for name in self.names() for m in self._versions(name)]

    def get(self, name: str, version: str | None = None) -> ModelVersion:
        """A registered version; the latest version of ``name`` when ``version`` is None.

        Raises:
            RegistryError: no such name, or no such version of it.
        """
        versions = self._versions(name) if _NAME.match(name) else []
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise RegistryError(
                f"no model named {name!r} in the registry {self.root} (registered: {known})"
            )
        if version is None:
            return versions[-1]
        for model in versions:
            if model.version == version:
                return model
        known = ", ".join(m.version for m in versions)
        raise RegistryError(f"{name} has no version {version!r} (registered versions: {known})")

    def set_default(self, name: str, version: str | None = None) -> ModelVersion:
        """Make a registered version the default (the latest of ``name`` when None)."""
        model = self.get(name, version)
        path = self.root / DEFAULT_FILE
        tmp = path.with_name(f".{DEFAULT_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"name": model.name, "version": model.version}) + "\n")
        os.replace(tmp, path)
        return model

    def default_version(self) -> ModelVersion | None:
        """The version chosen with :meth:`set_default`, or None when none was chosen.

        Raises:
            RegistryError: the chosen version is no longer in the registry.
        """
        path = self.root / DEFAULT_FILE
        if not path.is_file():
            return None
        try:
            chosen = json.loads(path.read_text())
            name, version = str(chosen["name"]), str(chosen["version"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            hint = "choose again with `poppyscan models set-default NAME`"
            raise RegistryError(f"{path} is unreadable ({exc}); {hint}") from exc
        try:
            return self.get(name, version)
        except RegistryError as exc:
            raise RegistryError(
                f"the default model {name} {version} is no longer in the registry "
                f"{self.root}; pick another with `poppyscan models set-default NAME`"
            ) from exc

    def default(self) -> Path:
        """Weights of the default model: the chosen version, else the shipped model.

        Raises:
            ModelError: nothing chosen and no shipped model installed.
        """
        chosen = self.default_version()
        return chosen.weights if chosen is not None else default_model_path()

    def resolve(self, model: str | os.PathLike[str] | None) -> Path:
        """Turn a ``--model`` argument into weights: a path, ``NAME`` or ``NAME:VERSION``.

        An existing path wins; ``None`` and ``"default"`` are the default model; a bare name
        (no folder, no model suffix) is looked up in the registry. Anything else is returned
        as a path for the model loader to report.

        Raises:
            RegistryError: a name or version the registry does not hold.
        """
        if model is None:
            return self.default()
        text = os.fspath(model)
        path = Path(text).expanduser()
        if path.exists() or os.sep in text or path.suffix.lower() in _MODEL_SUFFIXES:
            return path
        if text == DEFAULT_REF:
            return self.default()
        name, _, version = text.partition(":")
        return self.get(name, version or None).weights
