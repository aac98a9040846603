"""`poppyscan models` — the model registry: list, register, choose the default, show."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from detector.backends import default_model_path
from detector.card import ModelCard, sha256_of
from detector.errors import ModelError
from training.registry import ENV_VAR, ModelVersion, Registry

HELP = "list, register and choose the models poppyscan scans with"
DESCRIPTION = f"""\
Keep trained models as named versions in a registry folder: each version holds the weights,
their model card, their exports (INT8 OpenVINO, ONNX) and optionally the evaluation report
that justified it. `poppyscan scan` uses the registry's default model when no --model is
given, and the model shipped with poppyscan until a default is chosen. Every --model option
also accepts NAME or NAME:VERSION from the registry (NAME alone: its latest version), and
`default` for the default model.

The registry is ~/.local/share/poppyscan/models unless ${ENV_VAR} or --registry says otherwise.

examples:
  poppyscan models register runs/r1/poppy-net.pt --version 0.2.0 --report eval/
  poppyscan models list
  poppyscan models set-default poppy-net:0.2.0
  poppyscan models show poppy-net --json
"""


def add_registry_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--registry DIR`` to a verb that resolves models through the registry."""
    parser.add_argument(
        "--registry",
        type=Path,
        metavar="DIR",
        help=f"model registry folder (default: ${ENV_VAR}, else ~/.local/share/poppyscan/models)",
    )


def open_registry(args: argparse.Namespace) -> Registry:
    """The registry named by ``--registry`` (or the environment, or the default folder)."""
    return Registry(getattr(args, "registry", None))


def _split_ref(ref: str, version: str | None = None) -> tuple[str, str | None]:
    name, _, pinned = ref.partition(":")
    return name, version or pinned or None


def add_parser(verbs: Any) -> None:
    """Register ``models`` and its sub-commands on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "models",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_registry_option(common)

    listing = actions.add_parser(
        "list", parents=[common], help="list registered model versions (default marked *)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=run_list)

    register = actions.add_parser(
        "register",
        parents=[common],
        help="copy a trained model, its card and exports into the registry",
        description="Copy weights, their card (name and version rewritten to the registered "
        "ones), the exports the card names and an optional evaluation report into the "
        "registry. A name + version is registered once; the model must have its card.",
    )
    register.add_argument("weights", type=Path, help=".pt (or .onnx / OpenVINO folder) with card")
    register.add_argument("--name", help="registered name (default: the card's)")
    register.add_argument("--version", help="registered version (default: the card's)")
    register.add_argument(
        "--report", type=Path, metavar="DIR", help="evaluation report folder to keep with it"
    )
    register.add_argument(
        "--default", action="store_true", help="also make it the default model for scans"
    )
    register.set_defaults(run=run_register)

    default = actions.add_parser(
        "set-default",
        parents=[common],
        help="choose the model `poppyscan scan` uses when no --model is given",
    )
    default.add_argument("model", metavar="NAME[:VERSION]", help="registered model")
    default.add_argument("version", nargs="?", help="version (default: the latest)")
    default.set_defaults(run=run_set_default)

    show = actions.add_parser(
        "show", parents=[common], help="show a model's card, files and evaluation"
    )
    show.add_argument(
        "model",
        nargs="?",
        metavar="NAME[:VERSION]",
        help="registered model (default: the default model)",
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(run=run_show)


def _row(model: ModelVersion, default: ModelVersion | None) -> list[str]:
    chosen = default is not None and (default.name, default.version) == (model.name, model.version)
    return [
        model.name,
        model.version,
        "*" if chosen else "",
        ",".join(model.card.classes),
        f"{model.card.gsd_m:g}",
        model.registered_utc,
        "yes" if model.evaluation else "",
        ",".join(model.exports) or "",
    ]


def run_list(args: argparse.Namespace) -> int:
    """Print the registered versions."""
    registry = open_registry(args)
    models = registry.list()
    default = registry.default_version()
    if args.json:
        chosen = default.to_dict() if default else None
        print(
            json.dumps(
                {
                    "registry": str(registry.root),
                    "default": chosen or {"weights": str(registry.default()), "shipped": True},
                    "models": [m.to_dict() for m in models],
                },
                indent=2,
            )
        )
        return 0
    if not models:
        print(f"no models registered in {registry.root}")
    else:
        header = ["NAME", "VERSION", "DEFAULT", "CLASSES", "GSD_M", "REGISTERED", "EVAL", "EXPORTS"]
        rows = [header, *(_row(m, default) for m in models)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if default is None:
        try:
            shipped = f"the shipped model {default_model_path()}"
        except ModelError:
            shipped = "none (no model is shipped with this install)"
        print(f"default: {shipped}; choose one with `poppyscan models set-default`")
    return 0


def run_register(args: argparse.Namespace) -> int:
    """Register a model version."""
    registry = open_registry(args)
    model = registry.register(args.weights, args.name, args.version, report=args.report)
    print(f"registered {model.name} {model.version} in {model.directory}")
    if args.default:
        registry.set_default(model.name, model.version)
        print(f"{model.name} {model.version} is now the default model")
    return 0


def run_set_default(args: argparse.Namespace) -> int:
    """Choose the default model."""
    name, version = _split_ref(args.model, args.version)
    model = open_registry(args).set_default(name, version)
    print(f"{model.name} {model.version} is now the default model ({model.weights})")
    return 0


def _describe(weights: Path, card: ModelCard, extra: dict[str, Any]) -> dict[str, Any]:
    return {"weights": str(weights), **extra, "card": card.to_dict()}


def run_show(args: argparse.Namespace) -> int:
    """Show one model: card, files, evaluation."""
    registry = open_registry(args)
    if args.model:
        info = registry.get(*_split_ref(args.model)).to_dict()
    else:
        chosen = registry.default_version()
        if chosen is not None:
            info = chosen.to_dict()
        else:
            weights = registry.default()
            shipped = {"shipped": True, "sha256": sha256_of(weights)}
            info = _describe(weights, ModelCard.load(weights), shipped)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    card = info["card"]
    print(f"{card['name']} {card['version']}")
    lines = {
        "weights": info["weights"],
        "sha256": info.get("sha256", ""),
        "registered": info.get("registered_utc", "shipped with poppyscan"),
        "classes": ", ".join(card["classes"]),
        "model GSD": f"{card['gsd_m']:g} m/px, tiles {card['tile_size_px']} px, "
        f"overlap {card['overlap_px']} px",
        "confidence": card["conf_threshold"],
        "exports": ", ".join(f"{k}: {v}" for k, v in info.get("exports", {}).items()) or "none",
        "evaluation": info.get("evaluation") or "none",
        "trained": ", ".join(
            f"{k} {card['training'][k]}"
            for k in ("epochs_run", "device", "duration_s", "finished_utc", "dataset")
            if k in card["training"]
        )
        or "-",
    }
    for key, value in lines.items():
        print(f"  {key + ':':<12} {value}")
    for group, numbers in sorted(card["metrics"].items()):
        if isinstance(numbers, dict):
            flat = {k: v for k, v in numbers.items() if isinstance(v, int | float)}
            shown = ", ".join(f"{k} {v:g}" for k, v in sorted(flat.items())[:8])
            print(f"  metrics {group}: {shown}")
    return 0
