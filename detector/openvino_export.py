"""Export YOLO ``.pt`` weights to OpenVINO IR, in a child process, cached by sha256.

The export needs PyTorch and Ultralytics; the scan does not. Running the export as
``python -m detector.openvino_export`` keeps torch (≈700 MB resident for the CUDA build) out
of the scanning process. The result lands in
``cache_dir()/openvino/<sha256>-<tile>px/model_openvino_model`` (the IR has a fixed input
size), written to a temporary directory and renamed so concurrent scans never see half an
export.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from detector.errors import ModelError
from detector.offline import cache_dir, configure_ultralytics

EXPORT_TIMEOUT_S = 900


def cached_export_dir(digest: str, tile_size_px: int) -> Path:
    """Where the OpenVINO export of weights with sha256 ``digest`` lives."""
    return cache_dir() / "openvino" / f"{digest}-{tile_size_px}px" / "model_openvino_model"


def export_openvino(weights: Path, tile_size_px: int, digest: str) -> Path:
    """Return the cached OpenVINO export of ``weights``, exporting it first if needed.

    Raises:
        ModelError: if the export fails (the child's last error line is quoted).
    """
    model_dir = cached_export_dir(digest, tile_size_px)
    if any(model_dir.glob("*.xml")):
        return model_dir
    target = model_dir.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=target.parent))
    try:
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "detector.openvino_export",
                str(weights),
                str(tile_size_px),
                str(staging),
            ],
            capture_output=True,
            text=True,
            timeout=EXPORT_TIMEOUT_S,
            check=False,
        )
        if child.returncode != 0 or not any((staging / model_dir.name).glob("*.xml")):
            lines = [ln for ln in child.stderr.strip().splitlines() if ln.strip()]
            raise ModelError(
                f"could not export {weights} to OpenVINO: {lines[-1] if lines else 'no output'}"
            )
        (staging / "sha256.txt").write_text(digest + "\n")
        staging.chmod(0o755)  # mkdtemp makes it private; other users may share the cache
        # If another process finished first, its export is as good as ours.
        with contextlib.suppress(OSError):
            staging.rename(target)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"exporting {weights} to OpenVINO took over {EXPORT_TIMEOUT_S} s") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model_dir


def _export_here(weights: Path, tile_size_px: int, out_dir: Path) -> None:
    configure_ultralytics()
    from ultralytics import YOLO

    shutil.copy2(weights, out_dir / "model.pt")
    YOLO(str(out_dir / "model.pt"), task="detect").export(
        format="openvino", imgsz=tile_size_px, half=False, dynamic=False, batch=1, verbose=False
    )
    (out_dir / "model.pt").unlink()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m detector.openvino_export WEIGHTS TILE_PX OUT_DIR")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    _export_here(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
