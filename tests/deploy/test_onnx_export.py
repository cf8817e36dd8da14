"""Export round trip: the .onnx file gives the eager model's instances (masks included), runs
with torch blocked from import, and a broken file is a one-line error."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (a project dependency)")

from balloon_shapes.commands.export import (  # noqa: E402
    compare,
    edge_distance,
    matches,
    run_export,
)
from balloon_shapes.config import load_config  # noqa: E402
from balloon_shapes.deploy.runtime import ExportedModel  # noqa: E402
from balloon_shapes.errors import WeightsError  # noqa: E402
from balloon_shapes.model_loader import load_model  # noqa: E402
from balloon_shapes.modeling.precision import BF16_UNITS, cpu_flags  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def export(tmp_path, *overrides, seed=0, fmt="onnx"):
    """Export the smoke model (random weights from ``seed``); (path, the same eager model)."""
    out = tmp_path / ("model.onnx" if fmt == "onnx" else "model.xml")
    cfg = load_config(["+experiment=smoke", f"output={out}", f"format={fmt}", *overrides], "export")
    torch.manual_seed(seed)
    report = run_export(cfg)
    torch.manual_seed(seed)
    model, _ = load_model(cfg)
    return out, model.eval(), report


def tamed_weights(folder: Path, flavour: str) -> str:
    """Random smoke weights with class logits scaled down: scores of 1 - 1e-7 tie, and which
    of two tied boxes NMS keeps is float noise, not an export error."""
    torch.manual_seed(0)
    cfg = load_config(["+experiment=smoke", f"model.flavour={flavour}"], "export")
    model, _ = load_model(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "cls_score" in name or "cls_logits" in name:
                p.mul_(0.1)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / f"{flavour}.pth")
    return str(folder / f"{flavour}.pth")


def export_d2(folder: Path, fmt: str):
    """The Detectron2-flavour smoke model (caffe BGR input, PIL resize, aligned ROIAlign...)."""
    weights = tamed_weights(folder, "detectron2")
    return export(folder, "model.flavour=detectron2", f"model.weights={weights}", fmt=fmt)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def exported_ir(tmp_path_factory):
    return export(tmp_path_factory.mktemp("export_ir") / "new", fmt="openvino")  # made


@pytest.fixture(scope="module")
def exported_d2(tmp_path_factory):
    return export_d2(tmp_path_factory.mktemp("export_d2"), "onnx")


@pytest.fixture(scope="module")
def exported_d2_ir(tmp_path_factory):
    return export_d2(tmp_path_factory.mktemp("export_d2_ir"), "openvino")


@pytest.mark.parametrize("shape", [(3, 64, 64), (3, 90, 150), (3, 200, 120), (3, 33, 300)])
@pytest.mark.parametrize("runtime", ["onnx/onnxruntime", "onnx/openvino", "xml/openvino"])
@pytest.mark.parametrize("flavour", ["torchvision", "detectron2"])
def test_exported_model_gives_eager_instances_at_any_size(request, flavour, shape, runtime):
    fixture = {"torchvision": "exported", "detectron2": "exported_d2"}[flavour]
    fixture += "" if runtime.startswith("onnx") else "_ir"
    path, model, report = request.getfixturevalue(fixture)
    assert report["matches_eager"] and report["detections"] > 0
    image = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager = model([image])[0]
    out = ExportedModel(str(path), backend=runtime.split("/")[1])(image.numpy())
    assert out["masks"].shape[1:] == (1, *shape[1:])  # pasted at image resolution
    r = compare(eager, out, 0.5)
    assert r["detections"] > 0 and matches(r), r


def test_openvino_runs_the_graph_once_per_image(exported_ir, monkeypatch):
    import openvino as ov

    calls = []
    infer = ov.CompiledModel.__call__

    def counted(self, *args, **kwargs):
        calls.append(1)
        return infer(self, *args, **kwargs)

    monkeypatch.setattr(ov.CompiledModel, "__call__", counted)
    out = ExportedModel(str(exported_ir[0]))(np.random.default_rng(0).random((3, 64, 80), "f4"))
    assert len(calls) == 1 and len(out["boxes"]) == len(out["masks"])  # was once per output


def in_subprocess(code: str) -> dict:
    """Run ``code`` (which prints one JSON line) in a fresh interpreter: earlier tests' loader
    workers leave torch's SIGCHLD handler in the pytest process, and after OpenVINO ran bf16
    (AMX) there the next child to exit killed pytest with SIGSEGV
    (``evaluation.inference.loader_workers``)."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_cpu_bf16_autocast_runs_openvino_in_bf16(exported, exported_ir):
    if not BF16_UNITS & cpu_flags():
        pytest.skip("this CPU has no bf16 units (AMX or AVX512-BF16): OpenVINO runs fp32 here")
    code = f"""
import json, torch
from balloon_shapes.deploy.exported import ExportedDetector
ir, onnx = ExportedDetector({str(exported_ir[0])!r}), ExportedDetector({str(exported[0])!r})
image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
out = {{"fp32": ir.runtime_now().precision, "n_fp32": len(ir([image])[0]["scores"])}}
with torch.autocast("cpu", dtype=torch.bfloat16):
    out.update(bf16=ir.runtime_now().precision, onnx=onnx.runtime_now().precision)
    out["n_bf16"] = len(ir([image])[0]["scores"])
print(json.dumps(out))
"""
    r = in_subprocess(code)
    assert r["fp32"] == "f32" and r["bf16"] == "bf16"
    assert r["onnx"] == "f32"  # ONNX Runtime: fp32 kernels only
    assert r["n_bf16"] > 0 and abs(r["n_bf16"] - r["n_fp32"]) <= 2


def test_metrics_record_the_precision_the_runtime_really_ran(exported, tmp_path, monkeypatch):
    from balloon_shapes.commands.evaluate import evaluate
    from balloon_shapes.modeling import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    cfg = load_config(
        ["+experiment=smoke", f"model.weights={exported[0]}", f"output_dir={tmp_path}"]
        + ["inference.amp=auto", "eval.report_images=0"]
    )
    assert evaluate(cfg)["precision"] == "fp32"  # bf16 asked; ONNX Runtime runs fp32


def test_detectron2_flavour_leaves_resize_and_paste_to_the_runtime(exported_d2):
    meta = ExportedModel(str(exported_d2[0])).meta
    assert meta["paste"] == "detectron2"
    assert meta["preprocess"] == {
        "kind": "detectron2",
        "min_size": 64,
        "max_size": 64,
        "pixel_mean_bgr": [103.53, 116.28, 123.675],
        "pixel_std_bgr": [1.0, 1.0, 1.0],
    }


def test_an_image_with_no_detections_gives_empty_outputs(tmp_path, caplog):
    path, model, report = export(tmp_path, "model.roi.score_thresh=0.99")
    assert "traced on an image without any" in caplog.text  # the user is told
    image = torch.rand(3, 80, 96)
    with torch.no_grad():
        assert len(model([image])[0]["scores"]) == 0
    out = ExportedModel(str(path))(image.numpy())
    assert out["boxes"].shape == (0, 4) and out["masks"].shape == (0, 1, 80, 96)
    assert report["detections"] == 0 and report["matches_eager"]


def test_the_file_carries_class_names_and_thresholds(exported, exported_ir):
    for path in (exported[0], exported_ir[0]):
        meta = ExportedModel(str(path)).meta
        assert meta["class_names"] == ["square", "circle", "triangle", "ellipse"]
        assert meta["mask_thresh"] == 0.5
    assert ExportedModel(str(exported_ir[0])).backend == "openvino"


@pytest.mark.parametrize("fixture", ["exported", "exported_ir", "exported_d2"])
def test_exported_model_runs_without_torch(request, fixture):
    path = request.getfixturevalue(fixture)[0]
    code = (
        "import sys, json, numpy as np\n"
        "sys.modules['torch'] = None  # import torch now raises ImportError\n"
        "from balloon_shapes.deploy.runtime import ExportedModel\n"
        f"m = ExportedModel({str(path)!r})\n"
        "out = m(np.random.default_rng(0).random((3, 70, 90), dtype=np.float32))\n"
        "print(json.dumps({k: list(v.shape) for k, v in out.items()}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    shapes = json.loads(proc.stdout)
    assert shapes["masks"][1:] == [1, 70, 90] and shapes["boxes"][1] == 4


@pytest.mark.parametrize("content", [b"", b"not an onnx file", "truncated"])
def test_a_broken_file_is_a_one_line_error(exported, tmp_path, content):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(exported[0].read_bytes()[:5000] if content == "truncated" else content)
    with pytest.raises(WeightsError, match="bad.onnx: not a readable ONNX model"):
        ExportedModel(str(bad))
    with pytest.raises(WeightsError, match="no such exported model file"):
        ExportedModel(str(tmp_path / "missing.onnx"))
    bad_ir = tmp_path / "bad.xml"
    bad_ir.write_bytes(b"<net" if content == "truncated" else content)
    with pytest.raises(WeightsError, match="bad.xml: not a readable model"):
        ExportedModel(str(bad_ir))


def external_data_model(folder: Path, location: str) -> Path:
    """A tiny graph with our ports and metadata whose weight is read from ``location``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 2), np.float32), "W")
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    for key, value in {"location": location, "offset": "0", "length": "16"}.items():
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    nodes = [helper.make_node("MatMul", ["image", "W"], ["boxes"])]
    nodes += [helper.make_node("Identity", ["boxes"], [o]) for o in ("labels", "scores", "masks")]
    value = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 2])  # noqa: E731
    graph = helper.make_graph(
        nodes,
        "g",
        [value("image")],
        [value(o) for o in ("boxes", "labels", "scores", "masks")],
        [w],
    )
    model = helper.make_model(graph)
    onnx.helper.set_model_props(model, {"balloon_shapes": json.dumps({"class_names": ["a"]})})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.onnx").write_bytes(model.SerializeToString())
    return folder / "m.onnx"


def test_foreign_damaged_and_hostile_onnx_files_are_one_line(exported, tmp_path):
    import onnx

    foreign = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
        )
    )  # fmt: skip
    onnx.save(foreign, tmp_path / "foreign.onnx")
    ours = onnx.load(exported[0])
    ours.metadata_props[0].value = "{broken"
    onnx.save(ours, tmp_path / "damaged.onnx")
    ours.metadata_props[0].value = "{}"
    ours.graph.input[0].name = "pixels"
    onnx.save(ours, tmp_path / "ports.onnx")
    cases = {
        "foreign.onnx": "not exported by balloon-shapes",
        "damaged.onnx": "damaged balloon_shapes metadata",
        "ports.onnx": "are not a balloon-shapes detector's",
    }
    for name, message in cases.items():
        for backend in ("onnxruntime", "openvino"):
            with pytest.raises(WeightsError, match=message) as err:
                ExportedModel(str(tmp_path / name), backend=backend)
            assert name in str(err.value)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(4, np.float32).tobytes())
    for location in ("../secret.bin", str(secret)):
        hostile = external_data_model(tmp_path / "sub", location)
        for backend in ("onnxruntime", "openvino"):
            with pytest.raises(WeightsError, match="outside the model's folder; refused"):
                ExportedModel(str(hostile), backend=backend)
    (tmp_path / "sub" / "inside.bin").write_bytes(secret.read_bytes())
    inside = ExportedModel(str(external_data_model(tmp_path / "sub", "inside.bin")))
    assert inside.class_names == ["a"]  # external data beside the model is fine


def test_image_demo_with_a_hostile_onnx_leaves_no_output(tmp_path, capsys):
    from balloon_shapes.cli import run_main
    from balloon_shapes.demo.image_demo import run_images

    hostile = external_data_model(tmp_path / "sub", "../../etc/hostname")
    Image = pytest.importorskip("PIL.Image")
    Image.new("RGB", (40, 30)).save(tmp_path / "in.png")
    args = [f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'out'}"]
    assert run_main(run_images, [*args, f"model.weights={hostile}"], "demo") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "m.onnx" in err[0] and "refused" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_scripts_take_the_exported_file(exported, script, quick_script, tmp_path):
    path = exported[0]
    proc = script(
        "eval.py", "+experiment=smoke", f"model.weights={path}", f"output_dir={tmp_path / 'e'}"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["images"] == 4
    photos = tmp_path / "photos"
    photos.mkdir()
    import cv2

    cv2.imwrite(str(photos / "a.png"), (np.random.default_rng(0).random((50, 70, 3)) * 255))
    demo = quick_script(
        "image_demo.py", f"input={photos}", f"output={tmp_path / 'out'}", f"model.weights={path}"
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert (tmp_path / "out" / "a.png").exists()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"junk")
    bad = quick_script("eval.py", "+experiment=smoke", f"model.weights={broken}")
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "broken.onnx" in lines[0], bad.stderr


@pytest.mark.slow
def test_int8_quantizes_the_backbone_only_and_reports_ap_before_and_after(
    script, quick_script, tmp_path
):
    pytest.importorskip("nncf", reason="nncf not installed (a project dependency)")

    out = tmp_path / "int8" / "model.xml"
    args = [f"output={out}", "format=openvino", "precision=int8", "calib_size=4"]
    args.append("calib=shapes_val")  # a dataset name works as well as train/val
    proc = script("export.py", "+experiment=smoke", *args)  # its own process: see in_subprocess
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "-> ok" in proc.stdout  # the fp32 export matched eager
    assert "calibrating on 4 images of shapes_val" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.startswith("segm AP50 on"))
    before, after = (float(v) for v in re.findall(r"(?:fp32|int8) ([0-9.]+)", line))
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.bin", "model.xml"]
    assert "INFO" not in proc.stdout + proc.stderr  # NNCF's hundreds of lines stay quiet
    assert len((proc.stdout + proc.stderr).splitlines()) < 40, proc.stdout + proc.stderr
    ev = quick_script(
        "eval.py", "+experiment=smoke", f"model.weights={out}", f"output_dir={tmp_path}/e"
    )
    assert ev.returncode == 0, ev.stderr[-2000:]
    ap = json.loads((tmp_path / "e" / "metrics.json").read_text())["segm_AP50"]
    assert 0 <= before <= 1 and after == pytest.approx(ap, abs=1e-4)
    photos = tmp_path / "photos"  # pre-annotation runs on the INT8 file as on a checkpoint
    photos.mkdir()
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(photos / "a.png")
    # its own process: OpenVINO bf16 here, then a child exiting, crashes pytest (in_subprocess)
    ann = script("annotate.py", f"input={photos}", f"model.weights={out}", "score_thresh=0")
    assert ann.returncode == 0, ann.stderr[-2000:]
    assert json.loads((photos / "via_project.json").read_text())["_via_image_id_list"]
    layers = weight_layers(out)
    assert any(layers.values()), "nothing was quantized"
    assert sorted(n for n, q in layers.items() if q and not n.startswith("/backbone/")) == []
    consumers = fake_quantize_consumers(out)  # activations too: none quantized outside it
    assert consumers and sorted(c for c in consumers if not c.startswith("/backbone/")) == []
    assert ExportedModel(str(out)).meta["precision"] == "int8"


def fake_quantize_consumers(xml) -> set[str]:
    """The nodes that read a FakeQuantize's output (quantized activations)."""
    import openvino as ov

    return {
        t.get_node().get_friendly_name()
        for op in ov.Core().read_model(str(xml)).get_ordered_ops()
        if op.get_type_name() == "FakeQuantize"
        for t in op.output(0).get_target_inputs()
        if t.get_node().get_type_name() != "ShapeOf"  # reads the shape, not the values
    }


def weight_layers(xml) -> dict[str, bool]:
    """Each convolution and matmul of an IR -> whether its weights are stored INT8 (NNCF keeps
    them as an i8 constant that a Convert and a Multiply turn back into floats)."""
    import openvino as ov

    def int8(node, hops: int = 5) -> bool:
        if node.get_type_name() == "Constant":
            return node.get_element_type().get_type_name() in ("i8", "u8")
        sources = [i.get_source_output().get_node() for i in node.inputs()]
        return hops > 0 and any(int8(s, hops - 1) for s in sources)

    ops = ov.Core().read_model(str(xml)).get_ordered_ops()
    return {
        op.get_friendly_name(): int8(op.input(1).get_source_output().get_node())
        for op in ops
        if op.get_type_name() in ("Convolution", "MatMul")
    }


def test_int8_trunks_scope_quantizes_the_heads_shared_layers_and_never_a_predictor(
    exported_ir, tmp_path
):
    pytest.importorskip("nncf", reason="nncf not installed (a project dependency)")
    from balloon_shapes.deploy.graph import quantize_int8

    xml = exported_ir[0]
    meta = ExportedModel(str(xml)).meta
    images = [np.random.default_rng(i).random((3, 64, 80), dtype=np.float32) for i in range(2)]
    quantize_int8(str(xml), str(tmp_path / "q.xml"), images, meta, "trunks")
    layers = weight_layers(tmp_path / "q.xml")
    heads = {name: q for name, q in layers.items() if not name.startswith("/backbone/")}
    trunks = ("/rpn/head/conv/", "/roi_heads/box_head/", "/roi_heads/mask_head/")
    assert {name for name, q in heads.items() if q} == {n for n in heads if n.startswith(trunks)}
    assert any(n.startswith("/roi_heads/box_head/fc7") for n in heads)  # the names it expects
    assert sum(layers.values()) > sum(heads.values()) > 4  # the backbone too
    assert ExportedModel(str(tmp_path / "q.xml")).meta["int8_scope"] == "trunks"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["precision=int8"], "needs format=openvino"),
        (["format=openvino"], "expected a .xml file name"),
        (["format=tflite"], "format='tflite'"),
        (["precision=int4", "format=openvino", "output=m.xml"], "precision='int4'"),
        (["model.engine=detectron2"], "export traces the torchvision engine"),
        (["calib=coco_2017_val"], "expected train, val, shapes_train or shapes_val"),
        (["calib_size=0", "format=openvino", "precision=int8"], "calib_size=0: must be at least"),
        (["int8_scope=all"], "int8_scope='all': expected one of ['backbone', 'trunks']"),
        (["output={tmp}/via"], "is a folder; name the file, e.g. output={tmp}/via/model.onnx"),
        (["output={tmp}/a.onnx"], "a.onnx: is a folder"),
        (
            [
                "format=openvino",
                "precision=int8",
                "output={tmp}/m.xml",
                "data=via",
                "data.root={tmp}/via",
            ],
            "dataset 'via_train': has no images",
        ),  # fmt: skip
    ],
)
def test_export_mistakes_fail_in_one_line_before_any_work(tmp_path, capsys, overrides, message):
    """In-process through the script's run_main (scripts/export.py is only that call)."""
    from balloon_shapes.cli import run_main
    from tests.conftest import write_balloon_dataset

    write_balloon_dataset(tmp_path / "via", n_train=0, n_val=1)
    (tmp_path / "a.onnx").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = [o.replace("{tmp}", str(tmp_path)) for o in ["+experiment=smoke", *overrides]]
    assert run_main(run_export, args, "export") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message.replace("{tmp}", str(tmp_path)) in lines[0], lines
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_compare_measures_mask_iou_boxes_and_scores():
    masks = torch.zeros(2, 1, 10, 10)
    masks[0, 0, :4, :5] = 1  # 20 pixels
    masks[1, 0, 5:, 5:] = 1
    eager = {"boxes": torch.zeros(2, 4), "scores": torch.tensor([0.9, 0.8]), "masks": masks}
    eager["labels"] = torch.tensor([1, 1])
    shifted = masks.numpy().copy()
    shifted[0, 0, :4, :5], shifted[0, 0, :4, 1:6] = 0, 1  # 16 of 24 pixels shared
    shifted[1] = 0  # an exported mask that lost its object
    exported = {"boxes": np.full((2, 4), 0.25), "scores": np.array([0.9, 0.7]), "masks": shifted}
    exported["labels"] = np.array([1, 1])
    r = compare(eager, exported, 0.5)
    assert r["mask_iou"] == 0.0 and r["box_px"] == 0.25 and r["score"] == pytest.approx(0.1)
    assert r["mask_edge_px"] == 3  # the lost 5x5 object: its centre is 3 px inside its edge
    shifted[1] = masks[1].numpy()
    r = compare(eager, exported, 0.5)
    assert r["mask_iou"] == pytest.approx(16 / 24) and r["mask_edge_px"] == 1


def test_masks_may_differ_only_along_their_edge():
    eager = np.zeros((20, 20), bool)
    eager[5:15, 5:15] = True
    grown = eager.copy()
    grown[4:16, 4:16] = True  # one pixel more all round: an edge move
    assert edge_distance(eager, eager) == 0
    assert edge_distance(eager, grown) == pytest.approx(2**0.5)  # the corners are diagonal
    shrunk = eager.copy()
    shrunk[5:15, 5] = False  # one column less
    assert edge_distance(eager, shrunk) == 1
    far = eager.copy()
    far[2, 10] = True  # three pixels out
    hole = eager.copy()
    hole[10, 10] = False  # a pixel five inside lost
    assert edge_distance(eager, far) == 3 and edge_distance(eager, hole) == 5
    assert not matches({**MATCHING, "mask_edge_px": edge_distance(eager, far)})
    corner = np.zeros((20, 20), bool)
    corner[:6, :6] = True  # cut by the image border: its edge runs along it too
    lost = corner.copy()
    lost[0, 0] = False
    assert edge_distance(corner, lost) == 1


MATCHING = {"detections": 1, "exported_detections": 1, "box_px": 0.0, "score": 0.0}


def test_compare_pairs_detections_whose_scores_tie_in_either_order():
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 30], [5, 5, 9, 9]])
    masks = torch.zeros(3, 1, 50, 50)
    for i, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
        masks[i, 0, y0:y1, x0:x1] = 1
    eager = {"boxes": boxes, "labels": torch.tensor([1, 1, 2]), "scores": torch.ones(3)}
    eager["masks"] = masks
    order = [1, 0, 2]
    swapped = {k: v.numpy()[order] for k, v in eager.items()}
    r = compare(eager, swapped, 0.5)
    assert r["box_px"] == 0 and r["mask_iou"] == 1.0
    swapped["labels"] = np.array([1, 2, 1])  # the class must match too
    assert compare(eager, swapped, 0.5)["box_px"] >= 4


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("traced_per_level", [1, 2])
def test_exported_roi_pooling_takes_any_number_of_rois_per_level(tmp_path, traced_per_level):
    """Traced with N boxes on the coarsest level, the graph must still take 0 there. With the
    pooled rows written by index (``out[idx] = ...``) the exporter baked a level's count when
    it was 1: the exported R101 then failed on the next frame with 0 boxes on that level."""
    import onnxruntime as ort

    from balloon_shapes.modeling.d2_compat import AlignedMultiScaleRoIAlign

    pool = AlignedMultiScaleRoIAlign(["0", "1", "2", "3"], 7, 0, [4, 8, 16, 32])
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(1, 8, 64 // s, 64 // s, generator=g) for s in (1, 2, 4, 8)]

    class Pool(torch.nn.Module):
        def forward(self, f0, f1, f2, f3, boxes):
            return pool({"0": f0, "1": f1, "2": f2, "3": f3}, [boxes], [(256, 256)])

    small = [[10, 10, 30, 30], [40, 40, 60, 60], [5, 20, 25, 44]]  # levels 0 and 1
    large = [[0, 0, 250, 250], [3, 3, 240, 251]][:traced_per_level]  # coarsest level
    traced = torch.tensor(small + large, dtype=torch.float32)
    path = tmp_path / "pool.onnx"
    torch.onnx.export(Pool(), (*feats, traced), str(path), dynamo=False, opset_version=17,
                      input_names=["f0", "f1", "f2", "f3", "boxes"],
                      dynamic_axes={"boxes": {0: "n"}})  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for boxes in (small, small + large + large, large):  # none, more, only the coarsest
        b = torch.tensor(boxes, dtype=torch.float32)
        inputs = {f"f{i}": f.numpy() for i, f in enumerate(feats)} | {"boxes": b.numpy()}
        got = session.run(None, inputs)[0]
        np.testing.assert_allclose(got, Pool()(*feats, b).numpy(), atol=1e-5)


def test_the_demos_threshold_reaches_the_runtime_before_masks_are_pasted(exported_d2, monkeypatch):
    """As for an eager model, a predictor hands its score threshold to an exported one: the
    runtime drops those detections before pasting their masks at full size (at 640x480 the
    pasting of 100 discarded masks was most of a frame). Same instances as without."""
    from balloon_shapes.demo.predictor import Predictor
    from balloon_shapes.deploy import runtime
    from balloon_shapes.deploy.exported import ExportedDetector

    path, _, _ = exported_d2
    rgb = (np.random.default_rng(1).random((90, 150, 3)) * 255).astype(np.uint8)
    names = ["a", "b", "c", "d"]

    def predictor(thresh):
        return Predictor(ExportedDetector(str(path)), names, score_thresh=thresh,
                         mask_thresh=0.5, device="cpu", amp=False)  # fmt: skip

    every = predictor(0.0)(rgb)
    thresh = float(np.sort(every.scores)[len(every) // 2])  # half of them go
    pasted, paste = [], runtime.d2_paste_masks
    monkeypatch.setattr(
        runtime, "d2_paste_masks", lambda m, *a: pasted.append(len(m)) or paste(m, *a)
    )
    kept = predictor(thresh)(rgb)
    want = every.above(thresh)
    assert 0 < len(kept) < len(every) and pasted == [len(kept)]
    assert np.array_equal(kept.scores, want.scores) and np.array_equal(kept.masks, want.masks)


@pytest.mark.parametrize("rescore_edge", ["true", "false"])
def test_a_model_with_the_mask_class_head_exports_with_its_rescored_scores(tmp_path, rescore_edge):
    """``model.mask_head.class_head=true`` rescales and re-sorts scores after the mask head:
    the graph must carry that too, or the exported file ranks detections by box score alone.
    Without rescoring at the edge, the edge is the image's, not the traced image's."""
    edge = f"model.mask_head.rescore_edge={rescore_edge}"
    path, model, report = export(tmp_path, "model.mask_head.class_head=true", edge)
    assert report["matches_eager"] and report["detections"] > 0
    image = torch.rand(3, 90, 150, generator=torch.Generator().manual_seed(1))  # not 64x64
    with torch.no_grad():
        eager = model([image])[0]
    out = ExportedModel(str(path))(image.numpy())
    r = compare(eager, out, 0.5)
    assert r["detections"] > 0 and matches(r), r
    assert np.all(np.diff(out["scores"]) <= 0)  # best first


def test_the_class_head_export_takes_images_with_another_detection_count(tmp_path):
    """The rescoring once sliced its rows by the traced image's detection count, a constant in
    the graph: an image with another count failed in ONNX Runtime (GatherElements)."""
    # At 0.26 this random model keeps some of its boxes, a different number per image.
    path, model, report = export(
        tmp_path, "model.mask_head.class_head=true", "model.roi.score_thresh=0.26"
    )
    exported, counts = ExportedModel(str(path)), set()
    for seed, shape in enumerate([(64, 64), (90, 150), (40, 40), (120, 80), (64, 100)]):
        image = torch.rand(3, *shape, generator=torch.Generator().manual_seed(seed + 5))
        with torch.no_grad():
            eager = model([image])[0]
        r = compare(eager, exported(image.numpy()), 0.5)
        assert matches(r), (shape, r)
        counts.add(len(eager["scores"]))
    assert len(counts - {0, report["detections"]}) >= 1, (counts, report["detections"])
