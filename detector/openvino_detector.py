"""Run an exported YOLO model with the OpenVINO runtime alone — no PyTorch in the process.

On a CPU this is the scanner's default runtime: OpenVINO runs YOLO11n at 640 px about 2.5x
faster than eager PyTorch here, and without importing torch a scan stays far below 1 GB of
memory (the CUDA build of torch costs ~700 MB just to import). Pre-processing is Ultralytics'
(RGB, scaled to 0..1, no letterbox needed: tiles are already the model's input size), done
inside the compiled graph on the uint8 tiles (:func:`_takes_uint8_tiles`), and
post-processing is :mod:`detector.yolo_decode`, so boxes match Ultralytics' PyTorch results.

Precision: ``"fast"`` (default, :data:`DEFAULT_PRECISION`) is the CPU plugin's own choice:
bfloat16 where the processor has it (AVX512-BF16/AMX), float32 elsewhere; 1.6-2.4x faster
than float32 on the CPUs measured here, with boxes that move by up to a few pixels and
confidences by ~0.01, and the same plot recall on held-out flights (README). ``"f32"``
gives the same boxes on every machine and matches PyTorch. ``"int8"`` runs the model's
post-training-quantised export (made by ``training.export``, calibrated on training tiles,
checked against f32 and recorded in the card): faster still where the CPU has VNNI, and it
finds the plots float32 finds on the held-out flights, but raises about 15 % more false
plots, so it is only an option.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from detector.card import ModelCard
from detector.errors import ModelError
from detector.offline import configure_offline
from detector.yolo_decode import decode

K = TypeVar("K")  # what the caller ties to each tile of a stream

PRECISIONS = ("f32", "fast", "int8")
# Measured on the shipped model's 12 held-out synthetic flights (84 plots): plot recall 0.738
# in bfloat16 ("fast"), float32 and INT8; 5.3, 5.5 and 6.2 false plots per hectare.
DEFAULT_PRECISION = "fast"


def _takes_uint8_tiles(model: Any) -> Any:
    """``model`` (an ``openvino.Model`` taking 1x3xHxW float RGB in 0..1) made to take the
    tiles as the reader gives them, 1xHxWx3 uint8 RGB: the layout change, the conversion to
    float and the scaling by 1/255 become part of the compiled graph, run by the plugin's
    threads instead of numpy making a float copy of every tile on the scan's thread (2.3 ms
    a 640 px tile here)."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    steps = PrePostProcessor(model)
    steps.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    steps.input().model().set_layout(ov.Layout("NCHW"))
    steps.input().preprocess().convert_element_type(ov.Type.f32).scale(255.0)
    return steps.build()


class OpenVINODetector:
    """A YOLO detector compiled by OpenVINO for the CPU.

    Args:
        model_dir: Directory holding the exported ``.xml`` + ``.bin`` (or the ``.xml``).
        card: The model's card.
        sha256: sha256 of the weights the export came from (recorded in outputs).
        conf: Confidence threshold, 0..1.
        precision: ``"f32"``, ``"fast"`` or ``"int8"`` (see the module docstring); for
            ``"int8"``, ``model_dir`` must hold the quantised export.
    """

    def __init__(
        self,
        model_dir: Path,
        card: ModelCard,
        sha256: str,
        conf: float,
        precision: str = DEFAULT_PRECISION,
    ) -> None:
        if precision not in PRECISIONS:
            raise ModelError(f"unknown precision {precision!r}; choose {' or '.join(PRECISIONS)}")
        configure_offline()
        import openvino as ov

        xml = model_dir if model_dir.is_file() else next(model_dir.glob("*.xml"), None)
        if xml is None:
            raise ModelError(f"{model_dir} holds no OpenVINO model (.xml)")
        # Throughput: the plugin's choice of inference streams (2 single-thread streams on
        # 2 cores), a tile in flight on each; YOLO11n's small convolutions keep one stream
        # per core busier than two threads on one tile (26.9 against 35.7 ms a 640 px tile
        # here, bfloat16).
        config: dict[str, object] = {"PERFORMANCE_HINT": "THROUGHPUT"}
        if precision == "f32":
            config["INFERENCE_PRECISION_HINT"] = ov.Type.f32
        try:
            model = ov.Core().read_model(str(xml))
            shape = model.input().get_partial_shape()
            size = card.tile_size_px
            if shape.is_static and (shape[2].get_length(), shape[3].get_length()) != (size, size):
                raise ModelError(
                    f"{xml} takes {shape[2]}x{shape[3]} px but its card says {size} px tiles"
                )
            if shape.is_dynamic:
                model.reshape([1, 3, size, size])
            self._compiled = ov.Core().compile_model(_takes_uint8_tiles(model), "CPU", config)
        except ModelError:
            raise
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses on bad files
            raise ModelError(f"{xml} could not be loaded by OpenVINO: {exc}") from exc
        outputs = self._compiled.output(0).get_partial_shape()
        if outputs.rank.get_length() != 3 or outputs[1].get_length() != 4 + len(card.classes):
            raise ModelError(
                f"{xml} is not a YOLO detector for the card's {len(card.classes)} classes "
                f"(output shape {outputs})"
            )
        requests = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        # Plain requests, waited on by this thread, rather than an AsyncInferQueue: its Python
        # completion callbacks run on the plugin's threads and take the GIL, and a callback
        # still unwinding when the compiled model is destroyed deadlocked a process at exit.
        # Three requests a stream: while this thread waits on the oldest tile, every stream
        # still has tiles queued, so a tile delayed by the reader's CPU use idles no stream
        # (end to end 1.22x the model's time with one request a stream, 1.12x with two,
        # 1.09x with three; bfloat16, 640 px tiles, this 2-core machine).
        self._requests = [
            self._compiled.create_infer_request() for _ in range(3 * max(1, requests))
        ]
        self.card = card
        self.sha256 = sha256
        self.conf = conf
        self.precision = precision
        self.name = f"{card.name} {card.version} (openvino {precision}, cpu)"

    def predict(self, tiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Detect plants in RGB tiles (see :class:`detector.backends.Detector`), streamed
        through the plugin's streams (:meth:`predict_stream`); boxes come back in tile
        order."""
        return [boxes for _, boxes in self.predict_stream(enumerate(tiles))]

    def predict_stream(
        self, tiles: Iterable[tuple[K, np.ndarray]]
    ) -> Iterator[tuple[K, np.ndarray]]:
        """Detect plants in a stream of ``(key, tile)``; yield ``(key, boxes)`` in order.

        The plugin's streams never wait for the caller: the next tile is handed to the first
        stream that frees up, and a finished tile's boxes are decoded here (and the caller
        merges them) while the others are still in flight. Batches would stall every stream
        at their end until the slowest tile and the caller's work were done: the model alone
        ran 1024 tiles of 640 px in 27.0 s in batches of 4 and in 23.1 s streamed.
        """
        size = (self.card.tile_size_px, self.card.tile_size_px)
        idle = list(self._requests)
        in_flight: deque[tuple[K, Any]] = deque()  # (key, request), oldest first
        try:
            for key, tile in tiles:
                finished = None
                if not idle:  # every stream busy: wait for the oldest tile
                    done_key, request = in_flight.popleft()
                    request.wait()  # releases the GIL
                    finished = (done_key, request.get_output_tensor(0).data[0].copy())
                    idle.append(request)
                request = idle.pop()
                # 1 x H x W x 3 uint8, as read; copied into the request's own input tensor.
                request.start_async({0: np.ascontiguousarray(tile)[None]}, share_inputs=False)
                in_flight.append((key, request))
                if finished is not None:  # decoded while every stream has a tile
                    yield finished[0], decode(finished[1], self.conf, self.card.iou_threshold, size)
            while in_flight:
                done_key, request = in_flight.popleft()
                request.wait()
                raw = request.get_output_tensor(0).data[0].copy()
                yield done_key, decode(raw, self.conf, self.card.iou_threshold, size)
        finally:
            for _, request in in_flight:  # a stream dropped half-way: let its tiles finish
                request.wait()
