"""Run an exported Mask R-CNN (``scripts/export.py``: .onnx or OpenVINO .xml) with numpy and a
runtime only: ONNX Runtime for .onnx, OpenVINO for .xml (or for .onnx with ``backend``).

A deployed model needs neither torch nor the training stack: this module imports numpy, the
runtime, PIL and the project's error types, nothing else (a test runs it with torch blocked).
The graph holds the detector; decoding the image stays outside, and pasting each mask into the
image is done here. torchvision flavour: resize and normalisation are in the graph, masks are
pasted as torchvision does (``paste_masks``). Detectron2 flavour: its PIL resize cannot be
traced, so ``graph_input`` resizes and normalises here, and ``d2_paste_masks`` pastes as
Detectron2 does; the file's metadata says which.
"""

from __future__ import annotations

import json
import os

import numpy as np

from balloon_shapes.errors import ConfigError, WeightsError, first_line
from balloon_shapes.resize import d2_resized_size, pil_resize

META_KEY = "balloon_shapes"  # metadata: class names, mask threshold, source weights
OUTPUTS = ("boxes", "labels", "scores", "masks")
BACKENDS = ("onnxruntime", "openvino")


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def backend_for(path: str, backend: str | None) -> str:
    """ONNX Runtime for .onnx, OpenVINO for .xml, unless ``backend`` names one."""
    chosen = backend or ("openvino" if path.endswith(".xml") else "onnxruntime")
    if chosen not in BACKENDS:
        raise ConfigError(f"backend={chosen!r}: expected one of {list(BACKENDS)}")
    if chosen == "onnxruntime" and path.endswith(".xml"):
        raise ConfigError(f"{path}: an OpenVINO model runs on openvino, not onnxruntime")
    return chosen


NOT_OURS = "not exported by balloon-shapes (no balloon_shapes metadata); use scripts/export.py"


def check_onnx(path: str) -> dict:
    """The metadata of one of our .onnx files, after checking that it is one: it parses, carries
    our metadata and ports, and every external-data file it names lies in its own folder (a
    hostile file could point at any file on disk). Anything else is a one-line ``WeightsError``.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(path, load_external_data=False)
    except DecodeError as e:
        raise WeightsError(f"{path}: not a readable ONNX model ({first_line(e)})") from None
    if not proto.graph.node:
        raise WeightsError(f"{path}: not a readable ONNX model (it holds no graph)")
    props = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in props:
        raise WeightsError(f"{path}: {NOT_OURS}")
    meta = parse_meta(props[META_KEY], path)
    check_ports(path, [i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for tensor in proto.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        target = os.path.realpath(os.path.join(folder, location))
        if os.path.isabs(location) or os.path.commonpath([folder, target]) != folder:
            raise WeightsError(
                f"{path}: tensor {tensor.name} reads external data from {location!r}, outside "
                "the model's folder; refused"
            )
    return meta


def parse_meta(text: str, path: str) -> dict:
    """Our metadata (json: class names, mask threshold, flavour) or a one-line error."""
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise WeightsError(f"{path}: damaged balloon_shapes metadata ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("class_names", []), list):
        raise WeightsError(f"{path}: damaged balloon_shapes metadata (not an object of fields)")
    return meta


def check_ports(path: str, inputs: list[str], outputs: list[str]) -> None:
    """An exported detector takes ``image`` and gives ``OUTPUTS``; anything else is not ours."""
    if "image" not in inputs or not set(OUTPUTS) <= set(outputs):
        raise WeightsError(
            f"{path}: inputs {inputs} and outputs {outputs} are not a balloon-shapes detector's "
            f"(image -> {', '.join(OUTPUTS)})"
        )


class ExportedModel:
    """An exported detector: ``model(image)`` -> torchvision-style outputs as numpy arrays.

    ``precision`` (OpenVINO): ``f32`` (default: the eager model's numbers) or ``bf16``, which
    OpenVINO would otherwise pick by itself on a CPU with AMX."""

    def __init__(
        self,
        path: str,
        threads: int | None = None,
        backend: str | None = None,
        precision: str = "f32",
    ) -> None:
        if not os.path.isfile(path):
            raise WeightsError(f"{path}: no such exported model file")
        self.path, self.backend = path, backend_for(path, backend)
        self.precision = precision if self.backend == "openvino" else "f32"
        threads = threads or available_cores()  # intra-op threads = the cores given
        if self.backend == "openvino":
            self._open_openvino(threads, precision)
        else:
            self._open_onnxruntime(threads)

    def _open_onnxruntime(self, threads: int) -> None:
        import onnxruntime as ort
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidGraph, InvalidProtobuf

        self.meta = check_onnx(self.path)  # ONNX Runtime only ever sees a checked file
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3  # errors only: ORT warns about unused initialisers
        try:
            session = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])
        except (InvalidProtobuf, InvalidGraph) as e:  # parsed by onnx, refused by the runtime
            raise WeightsError(
                f"{self.path}: not a runnable ONNX model ({first_line(e)})"
            ) from None
        self._run = lambda image: session.run(None, {"image": image})

    def _open_openvino(self, threads: int, precision: str) -> None:
        import openvino as ov

        core = ov.Core()
        onnx_meta = check_onnx(self.path) if self.path.endswith(".onnx") else None
        try:
            model = core.read_model(self.path)
        except RuntimeError as e:  # OpenVINO reports every unreadable file as RuntimeError
            raise WeightsError(f"{self.path}: not a readable model ({first_line(e)})") from None
        if onnx_meta is not None:  # ONNX metadata is not carried into rt_info
            self.meta = onnx_meta
        elif model.has_rt_info(META_KEY):
            self.meta = parse_meta(model.get_rt_info(META_KEY).astype(str), self.path)
        else:
            raise WeightsError(f"{self.path}: {NOT_OURS}")
        check_ports(self.path, [p.get_any_name() for p in model.inputs],
                    [p.get_any_name() for p in model.outputs])  # fmt: skip
        config = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads}
        compiled = core.compile_model(model, "CPU", config)
        outputs = [compiled.output(name) for name in OUTPUTS]

        def run(image: np.ndarray) -> list[np.ndarray]:
            result = compiled({"image": image})  # one inference, four outputs read from it
            return [result[o] for o in outputs]

        self._run = run

    @property
    def class_names(self) -> list[str] | None:
        return self.meta.get("class_names")

    def __call__(self, image: np.ndarray, min_score: float = 0.0) -> dict[str, np.ndarray]:
        """``image`` float32 [3, H, W], RGB, 0..1 -> ``boxes`` XYXY [N, 4], ``labels`` [N]
        (1-based), ``scores`` [N], ``masks`` soft [N, 1, H, W] at image resolution; only the
        detections scored above ``min_score`` (the others' masks are never pasted)."""
        x = graph_input(image, self.meta)
        out = dict(zip(OUTPUTS, self._run(x)))
        if min_score > 0:
            keep = out["scores"] > min_score
            out = {k: v[keep] for k, v in out.items()}
        height, width = image.shape[1:]
        if self.meta.get("preprocess"):  # boxes come in the resized image's pixels
            out["boxes"] = rescale_boxes(out["boxes"], x.shape[1:], (height, width))
        paste = self.meta.get("paste")
        if paste == "detectron2":
            out["masks"] = d2_paste_masks(out["masks"], out["boxes"], height, width)
        elif paste == "runtime":  # torchvision's paste
            out["masks"] = paste_masks(out["masks"], out["boxes"], height, width)
        return out


def graph_input(image: np.ndarray, meta: dict) -> np.ndarray:
    """What the graph takes for ``image`` (float32 RGB 0..1 [3,H,W]): the image itself, or for
    a Detectron2-flavour file, resized (shortest edge, PIL) and caffe-normalised (BGR, 0..255,
    minus the mean, over the std)."""
    image = np.ascontiguousarray(image, np.float32)
    spec = meta.get("preprocess")
    if not spec:
        return image
    size = d2_resized_size(*image.shape[1:], spec["min_size"], spec["max_size"])
    bgr = pil_resize(image, size)[::-1] * np.float32(255)
    mean = np.asarray(spec["pixel_mean_bgr"], np.float32)[:, None, None]
    std = np.asarray(spec["pixel_std_bgr"], np.float32)[:, None, None]
    return np.ascontiguousarray((bgr - mean) / std, np.float32)


def rescale_boxes(boxes: np.ndarray, resized: tuple, original: tuple) -> np.ndarray:
    """XYXY boxes in the resized image -> the original one, clipped to it (torchvision's
    ``resize_boxes`` then Detectron2's clip)."""
    (rh, rw), (oh, ow) = resized, original
    ratio_h, ratio_w = np.float32(oh) / np.float32(rh), np.float32(ow) / np.float32(rw)
    out = boxes.astype(np.float32) * np.array([ratio_w, ratio_h, ratio_w, ratio_h], np.float32)
    out[:, 0::2] = out[:, 0::2].clip(0, ow)
    out[:, 1::2] = out[:, 1::2].clip(0, oh)
    return out


def sample_weights(lo: float, hi: float, m: int, n_out: int) -> tuple[int, np.ndarray]:
    """1-D weights of ``grid_sample`` (bilinear, zeros outside, align_corners=False) at the
    pixel centres of the image that fall in [lo, hi]: (first pixel, [pixels, m])."""
    if hi <= lo:  # an empty box: Detectron2's division by zero leaves nothing
        return 0, np.zeros((0, m), np.float32)
    start, stop = max(int(np.floor(lo - 0.5)), 0), min(int(np.ceil(hi + 0.5)), n_out)
    centres = np.arange(start, stop, dtype=np.float32) + np.float32(0.5)
    src = (centres - np.float32(lo)) / np.float32(hi - lo) * np.float32(m) - np.float32(0.5)
    k = np.arange(m, dtype=np.float32)
    return start, np.maximum(np.float32(1) - np.abs(src[:, None] - k[None, :]), 0)


def d2_paste_masks(masks: np.ndarray, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Detectron2's paste: the [N, 1, M, M] probabilities sampled bilinearly at the pixel
    centres of each float box, then ``>= 0.5`` -> float 0/1 [N, 1, H, W]. Bilinear sampling
    is separable, so each mask is two small matrix products."""
    n, m = len(masks), masks.shape[-1]
    out = np.zeros((n, 1, height, width), np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes.astype(np.float32)):
        ya, wy = sample_weights(y0, y1, m, height)
        xa, wx = sample_weights(x0, x1, m, width)
        if len(wy) and len(wx):
            inside = wy @ masks[i, 0].astype(np.float32) @ wx.T
            out[i, 0, ya : ya + len(wy), xa : xa + len(wx)] = inside >= 0.5
    return out


def resize_bilinear(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """[m, n] -> [h, w], bilinear with half-pixel centres (torch's align_corners=False)."""

    def axis(n_in: int, n_out: int):
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo).astype(np.float32)

    (y0, y1, fy), (x0, x1, fx) = axis(mask.shape[0], h), axis(mask.shape[1], w)
    rows = mask[y0] * (1 - fy)[:, None] + mask[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


def paste_masks(masks: np.ndarray, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Soft masks [N, 1, M, M] in their boxes -> [N, 1, H, W] in the image, as torchvision's
    ``paste_masks_in_image`` does (1-pixel padding, box grown to match, integer box, bilinear).
    Done here, not in the graph: exported, the paste is a per-detection loop, slow on OpenVINO."""
    n, m = len(masks), masks.shape[-1]
    out = np.zeros((n, 1, height, width), np.float32)
    if n == 0:
        return out
    padded = np.pad(masks[:, 0], ((0, 0), (1, 1), (1, 1)))
    scale = (m + 2) / m
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * scale
    centre = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    grown = np.concatenate([centre - half, centre + half], 1).astype(np.float32)
    for i, (x0, y0, x1, y1) in enumerate(np.trunc(grown).astype(np.int64)):
        w, h = max(int(x1 - x0 + 1), 1), max(int(y1 - y0 + 1), 1)
        inside = resize_bilinear(padded[i], h, w)
        ya, yb, xa, xb = max(y0, 0), min(y1 + 1, height), max(x0, 0), min(x1 + 1, width)
        if ya < yb and xa < xb:
            out[i, 0, ya:yb, xa:xb] = inside[ya - y0 : yb - y0, xa - x0 : xb - x0]
    return out
