import html
import json
import math
import re

import pytest
import torch

from balloon_shapes.commands.evaluate import evaluate
from balloon_shapes.config import load_config
from balloon_shapes.data import catalog
from balloon_shapes.data.mapper import Augment
from balloon_shapes.engine.data import Shard, TrainStream, sample_index
from balloon_shapes.engine.module import MaskRCNNModule
from balloon_shapes.engine.schedule import lr_factor
from balloon_shapes.engine.train import make_trainer, train
from balloon_shapes.errors import ConfigError
from balloon_shapes.modeling import precision as precision_lib
from balloon_shapes.modeling.weights import read_checkpoint


def test_a_few_steps_on_a_fixed_batch_lower_the_loss(smoke_cfg):
    torch.manual_seed(0)
    cfg = smoke_cfg()
    module = MaskRCNNModule(cfg)
    stream = TrainStream(
        catalog.get("shapes_val", size=4, spec=dict(cfg.data.shapes)), 4, Augment(), 0, False
    )
    images, targets = stream.batch(0)
    model = module.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(12):
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_stream_batches_are_pure_functions_of_step_and_rank():
    records = catalog.get("shapes_val", size=50)
    a = TrainStream(records, 2, Augment(hflip=0.5), 1, True, Shard(rank=0, world_size=2))
    b = TrainStream(records, 2, Augment(hflip=0.5), 1, True, Shard(rank=1, world_size=2))
    assert set(a.global_ids(3)).isdisjoint(b.global_ids(3))
    resumed = TrainStream(records, 2, Augment(hflip=0.5), 1, True, Shard(3, world_size=2))
    first = next(iter(resumed))
    assert all(torch.equal(x, y) for x, y in zip(first[0], a.batch(3)[0]))
    # shuffle visits every record once per epoch
    assert sorted(sample_index(g, 50, 1, True) for g in range(50)) == list(range(50))


def test_warmup_then_cosine(smoke_cfg):
    t = smoke_cfg("train.max_iter=100", "train.warmup_iters=10", "train.warmup_factor=0.1").train
    assert lr_factor(0, t) == pytest.approx(0.1)
    assert lr_factor(10, t) == pytest.approx(
        0.5 * (1 + __import__("math").cos(0.1 * 3.141592653589793))
    )
    assert lr_factor(100, t) == pytest.approx(0.0)
    assert lr_factor(150, t) == pytest.approx(0.0)  # past max_iter (a last scheduler step): 0
    # half-way through warmup (alpha = 5 / warmup_iters = 0.5): 0.1 * 0.5 + 0.5 = 0.55
    cosine_at_5 = 0.5 * (1 + __import__("math").cos(0.05 * 3.141592653589793))
    assert lr_factor(5, t) == pytest.approx(0.55 * cosine_at_5)
    step = smoke_cfg("train.schedule=step", "train.steps=[5,8]", "train.warmup_iters=0").train
    assert [lr_factor(i, step) for i in (4, 5, 8)] == pytest.approx([1, 0.1, 0.01])


def test_a_time_budget_runs_the_cosine_over_seconds_when_they_run_out_first(smoke_cfg):
    """max_iter=100, max_seconds=40, hand-computed: at step 20 after 30 s the run is 3/4
    through (seconds lead), after 4 s 1/5 through (iterations lead); without a budget the
    seconds do not count."""
    over = ("train.max_iter=100", "train.warmup_iters=10")
    t = smoke_cfg(*over, "train.max_seconds=40").train
    assert lr_factor(20, t, 30.0) == pytest.approx(0.5 * (1 - 2**-0.5))  # cos(3/4 pi)
    assert lr_factor(20, t, 4.0) == pytest.approx(0.5 * (1 + math.cos(0.2 * math.pi)))
    assert lr_factor(20, t, 55.0) == pytest.approx(0.0)
    assert lr_factor(20, smoke_cfg(*over).train, 30.0) == pytest.approx(
        0.5 * (1 + math.cos(0.2 * math.pi))
    )


@pytest.fixture
def half_second_steps(monkeypatch):
    """The training clock reads 0.5 s more at each call: every step takes 0.5 s."""
    import itertools

    import balloon_shapes.engine.callbacks as callbacks_lib

    ticks = itertools.count()
    monkeypatch.setattr(callbacks_lib, "perf_counter", lambda: 0.5 * next(ticks))


def test_a_time_budget_ends_the_run_validated_with_the_lr_annealed(
    smoke_cfg, monkeypatch, capsys, half_second_steps
):
    """A clock that gives each step 0.5 s: max_seconds=2 ends the run after step 4 of 100,
    with the lr of each step on the cosine over seconds (hand-computed), a validation in the
    fit loop (best.ckpt at step 4) and the seconds left on the progress bar."""
    import balloon_shapes.engine.module as module_lib

    lrs = []
    step = module_lib.MaskRCNNModule.training_step

    def recording(self, batch, batch_idx):
        lrs.append(self.optimizers().param_groups[0]["lr"])
        return step(self, batch, batch_idx)

    monkeypatch.setattr(module_lib.MaskRCNNModule, "training_step", recording)
    cfg = smoke_cfg("train.max_iter=100", "train.eval_period=100", "train.max_seconds=2",
                    "data.val_size=2", "train.lr=0.01")  # fmt: skip
    metrics = train(cfg)
    assert metrics["iter"] == 4 and metrics["train_seconds"] == 2.0
    assert [h["iter"] for h in metrics["history"]] == [4]
    # step k's lr comes from the scheduler step after step k-1, when 0.5 (k-1) s had passed:
    # progress max(k / 100, (k - 1) / 4); step 0 is warmup's first (factor 0.001)
    want = [0.001, 0.5 * (1 + math.cos(0.01 * math.pi)), 0.5 * (1 + math.cos(0.25 * math.pi)),
            0.5]  # fmt: skip
    assert [lr / 0.01 for lr in lrs] == pytest.approx(want)
    best = torch.load(cfg.output_dir + "/checkpoints/best.ckpt", weights_only=True)
    assert best["global_step"] == 4
    assert "left=0s" in capsys.readouterr().out


def test_resuming_a_run_whose_budget_is_spent_trains_no_further_step(
    smoke_cfg, monkeypatch, half_second_steps
):
    """A run that ended on ``train.max_seconds`` and is resumed with the same budget has
    nothing left to train: it must not take one more step past the budget."""
    import balloon_shapes.engine.module as module_lib

    over = ["train.max_iter=100", "train.eval_period=100", "train.max_seconds=2",
            "train.checkpoint_period=2", "data.val_size=2"]  # fmt: skip
    assert train(smoke_cfg(*over))["iter"] == 4
    steps, original = [], module_lib.MaskRCNNModule.training_step

    def counted(self, batch, batch_idx):
        steps.append(self.global_step)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(module_lib.MaskRCNNModule, "training_step", counted)
    metrics = train(smoke_cfg(*over, "resume=true"))
    assert steps == [] and metrics["iter"] == 4 and metrics["train_seconds"] == 2.0


def test_train_writes_metrics_checkpoints_and_picture(smoke_cfg, tmp_path):
    metrics = train(smoke_cfg())
    assert metrics["iter"] == 2
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("bbox_AP", "bbox_AP50", "segm_AP", "segm_AP50"):
        assert 0.0 <= saved[key] <= 1.0
    assert (tmp_path / "predictions.png").stat().st_size > 0
    assert {p.name for p in (tmp_path / "checkpoints").iterdir()} == {"last.ckpt", "best.ckpt"}
    assert read_checkpoint(str(tmp_path / "checkpoints" / "last.ckpt"))  # loads with weights_only


class Killed(Exception):
    pass


def test_resume_after_kill_matches_an_uninterrupted_run(smoke_cfg, tmp_path, monkeypatch):
    overrides = [
        "train.max_iter=6",
        "train.checkpoint_period=3",
        "train.eval_period=6",
        "data.num_workers=1",
        "data.val_size=2",
    ]
    full = smoke_cfg(*overrides, f"output_dir={tmp_path / 'full'}")
    train(full)

    import balloon_shapes.engine.module as module_lib

    original = module_lib.MaskRCNNModule.training_step

    def dies_at_step_4(self, batch, batch_idx):
        if self.global_step == 4:
            raise Killed()
        return original(self, batch, batch_idx)

    killed = smoke_cfg(*overrides, f"output_dir={tmp_path / 'killed'}")
    monkeypatch.setattr(module_lib.MaskRCNNModule, "training_step", dies_at_step_4)
    with pytest.raises(Killed):
        train(killed)
    monkeypatch.setattr(module_lib.MaskRCNNModule, "training_step", original)
    assert read_checkpoint(str(tmp_path / "killed" / "checkpoints" / "last.ckpt"))
    metrics = train(smoke_cfg(*overrides, f"output_dir={tmp_path / 'killed'}", "resume=true"))
    assert metrics["iter"] == 6
    a = read_checkpoint(str(tmp_path / "full" / "checkpoints" / "last.ckpt"))
    b = read_checkpoint(str(tmp_path / "killed" / "checkpoints" / "last.ckpt"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


@pytest.mark.parametrize(
    "stages, body_moves",
    [
        ("[{until: 2, trainable: heads}]", False),
        ("[{until: 1, trainable: heads}, {until: 2, trainable: all}]", True),
    ],
)
def test_trainable_stages(smoke_cfg, tmp_path, stages, body_moves):
    import lightning as L

    cfg = smoke_cfg(f"train.stages={stages}", "data.val_size=2")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    start = dict(MaskRCNNModule(cfg).model.named_parameters())
    train(cfg)
    final = read_checkpoint(str(tmp_path / "checkpoints" / "last.ckpt"))
    body = [k for k in start if k.startswith("backbone.body.")]
    heads = [k for k in start if k.startswith("roi_heads.")]
    assert any(not torch.equal(start[k], final[k]) for k in heads)
    assert any(not torch.equal(start[k], final[k]) for k in body) == body_moves


def test_resume_continues_from_the_checkpoint_not_from_scratch(smoke_cfg, tmp_path, monkeypatch):
    """A marker put into last.ckpt must come out in the result, and only the remaining steps run:
    a restart from step 0 with the same seed would give neither."""
    overrides = ["train.checkpoint_period=2", "train.eval_period=4", "data.val_size=2"]
    train(smoke_cfg(*overrides, "train.max_iter=2"))
    path = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, weights_only=True)
    key = "model.roi_heads.box_predictor.cls_score.bias"
    marked = ckpt["state_dict"][key] + 5.0
    ckpt["state_dict"][key] = marked.clone()
    torch.save(ckpt, path)

    import balloon_shapes.engine.module as module_lib

    steps, original = [], module_lib.MaskRCNNModule.training_step

    def counted(self, batch, batch_idx):
        steps.append(self.global_step)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(module_lib.MaskRCNNModule, "training_step", counted)
    metrics = train(smoke_cfg(*overrides, "train.max_iter=4", "resume=true"))
    assert metrics["iter"] == 4 and steps == [2, 3]
    final = read_checkpoint(str(path))[key[len("model.") :]]
    assert (final - marked).abs().max() < 1.0  # a restart would be ~5 away


def test_a_second_training_into_a_busy_output_dir_is_refused(smoke_cfg, tmp_path):
    from filelock import FileLock

    from balloon_shapes.errors import OutputError

    with FileLock(str(tmp_path / ".lock")):
        with pytest.raises(OutputError, match="another training"):
            train(smoke_cfg())
    assert not (tmp_path / "checkpoints").exists()
    assert train(smoke_cfg())["iter"] == 2  # the lock goes with its holder


def test_a_new_run_sets_the_previous_run_aside_whole(smoke_cfg, tmp_path):
    """A fresh run into a folder holding another run's outputs moves them, as a set, to
    <output_dir>.previous (one generation: the next fresh run replaces it); nothing of two runs
    mixes in one folder (logs, checkpoints); the user's own files stay where they are."""
    from balloon_shapes.errors import OutputError

    out = tmp_path / "run"
    over = ("data.val_size=2", f"output_dir={out}")
    train(smoke_cfg(*over))
    first = (out / "metrics.json").read_bytes()
    (out / "notes.txt").write_text("the user's")
    train(smoke_cfg(*over, "train.max_iter=1", "train.eval_period=1"))
    aside = tmp_path / "run.previous"
    assert (aside / "metrics.json").read_bytes() == first
    assert json.loads((out / "metrics.json").read_text())["iter"] == 1
    assert [p.name for p in (out / "csv").iterdir()] == ["version_0"]  # not version_1 beside
    assert len(list((out / "tb").glob("events.*"))) == 1  # one run's events, not two
    assert (out / "notes.txt").exists() and not (aside / "notes.txt").exists()
    assert {p.name for p in (aside / "checkpoints").iterdir()} == {"last.ckpt", "best.ckpt"}
    train(smoke_cfg(*over))  # the next one replaces the set-aside run
    assert json.loads((aside / "metrics.json").read_text())["iter"] == 1
    (tmp_path / "mine.previous").mkdir()  # a folder of the user's by that name is never removed
    train(smoke_cfg("data.val_size=2", f"output_dir={tmp_path / 'mine'}"))
    with pytest.raises(OutputError, match=r"mine\.previous: exists and is not a run set aside"):
        train(smoke_cfg("data.val_size=2", f"output_dir={tmp_path / 'mine'}"))
    assert (tmp_path / "mine" / "metrics.json").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.batch_size=-1", "train.batch_size=-1"),
        ("data.val_size=0", "data.val_size=0"),
        ("train.max_iter=0", "train.max_iter=0"),
        ("train.max_seconds=0", "train.max_seconds=0: must be more than 0"),
    ],
)
def test_impossible_values_fail_before_any_folder_exists(smoke_cfg, tmp_path, override, message):
    from balloon_shapes.errors import ConfigError

    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=message):
        train(smoke_cfg(override, f"output_dir={out}"))
    assert not out.exists()


def test_a_dataset_without_class_names_fails_before_training(smoke_cfg, tmp_path):
    from balloon_shapes.data import catalog
    from balloon_shapes.errors import ConfigError

    catalog.register("nameless_val", lambda **kw: catalog.get("shapes_val", **kw))  # no classes
    out = tmp_path / "run"
    try:
        with pytest.raises(ConfigError, match="'nameless_val': names no classes"):
            train(smoke_cfg("data.val=nameless_val", f"output_dir={out}"))
    finally:
        catalog.remove("nameless_val")
    assert not out.exists()  # nothing trained, nothing written


def test_output_dir_under_a_file_and_a_broken_last_ckpt_are_user_errors(smoke_cfg, tmp_path):
    from balloon_shapes.errors import ConfigError, OutputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        train(smoke_cfg(f"output_dir={tmp_path / 'file' / 'run'}"))
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    (ckpts / "last.ckpt").write_bytes(b"")  # what a kill during a copy left
    with pytest.raises(ConfigError, match="last.ckpt"):
        train(smoke_cfg("resume=true"))


def test_a_dataset_with_zero_images_is_a_user_error(smoke_cfg, tmp_path):
    from balloon_shapes.errors import DataError

    for split in ("train", "val"):
        (tmp_path / "via" / split).mkdir(parents=True)
        (tmp_path / "via" / split / "via_region_data.json").write_text("{}")
    cfg = smoke_cfg("data=via", f"data.root={tmp_path / 'via'}", f"output_dir={tmp_path / 'o'}")
    with pytest.raises(DataError, match="has no images"):
        train(cfg)
    assert not (tmp_path / "o").exists()


def test_the_run_reports_eval_command_gives_the_logged_ap(smoke_cfg, tmp_path):
    """One COCO evaluator behind both, and a checkpoint that brings its model and data: the
    eval.py command report.html gives (eval.yaml otherwise means COCO and R101) reproduces the
    last validation."""
    over = ("model.roi.score_thresh=0.0", "data.val_size=6", "train.lr=0.02")
    over += ("train.max_iter=150", "train.eval_period=150", "train.checkpoint_period=150")
    over += ("data.train_shapes.min_shapes=1", "data.train_shapes.max_shapes=4")  # AP > 0 by 150
    logged = train(smoke_cfg(*over))
    page = html.unescape((tmp_path / "report.html").read_text())
    command = re.search(r"python scripts/eval\.py ([^<]+)", page).group(1).split()
    assert command == [
        f"model.weights={tmp_path}/checkpoints/best.ckpt",
        f"output_dir={tmp_path}/eval",
    ]
    evaluated = evaluate(load_config(command, "eval"))
    keys = ("bbox_AP", "bbox_AP50", "segm_AP", "segm_AP50")
    assert logged["bbox_AP"] > 0 and logged["segm_AP"] > 0  # not trivially equal at zero
    assert {k: evaluated[k] for k in keys} == pytest.approx({k: logged[k] for k in keys}, abs=1e-9)


def test_callbacks_and_loggers_come_from_the_config(smoke_cfg, tmp_path):
    off = ("callbacks.best_checkpoint=null", "callbacks.lr_monitor=null", "loggers=null")
    train(smoke_cfg(*off))
    assert {p.name for p in (tmp_path / "checkpoints").iterdir()} == {"last.ckpt"}
    assert not (tmp_path / "tb").exists() and not (tmp_path / "csv").exists()
    with pytest.raises(ConfigError, match="callbacks.lr_monitor logs to a logger"):
        train(smoke_cfg("loggers=null"))


def test_resume_from_another_datasets_or_models_checkpoint_is_one_line(smoke_cfg, tmp_path):
    from balloon_shapes.errors import ConfigError
    from tests.conftest import write_balloon_dataset

    train(smoke_cfg("data.val_size=2"))
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    write_balloon_dataset(tmp_path / "via", n_train=2, n_val=1)
    other_data = ["data=via", f"data.root={tmp_path / 'via'}", "resume=true"]
    with pytest.raises(ConfigError, match="trained on shapes_train, not via_train; choose another"):
        train(smoke_cfg(*other_data))
    with pytest.raises(ConfigError, match="holds another model .*tensors differ.*fpn"):
        train(smoke_cfg("model.fpn_channels=32", "data.val_size=2", "resume=true"))
    assert last.read_bytes() == before


def test_loss_weights_scale_each_loss_in_what_is_optimised(smoke_cfg, monkeypatch):
    """The training loss is sum(w_k * loss_k), hand-computed here from the unweighted losses;
    a loss name the model does not have, or a negative weight, is a config error at once."""
    cfg = smoke_cfg("train.loss_weights.loss_classifier=2.5", "train.loss_weights.loss_mask=0")
    module = MaskRCNNModule(cfg)
    monkeypatch.setattr(module, "log", lambda *a, **k: None)
    monkeypatch.setattr(module, "log_dict", lambda *a, **k: None)
    stream = TrainStream(
        catalog.get("shapes_val", size=2, spec=dict(cfg.data.shapes)), 2, Augment(), 0, False
    )
    batch = stream.batch(0)
    torch.manual_seed(0)
    loss = module.training_step(batch, 0)
    torch.manual_seed(0)
    raw = module.model(*batch)
    expected = sum(raw.values()) + 1.5 * raw["loss_classifier"] - raw["loss_mask"]
    assert raw["loss_classifier"] > 0.01 and raw["loss_mask"] > 0.01, raw
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
    for bad, problem in (("+train.loss_weights.loss_maks=1", "loss_maks"),
                         ("train.loss_weights.loss_mask=-1", ">= 0"),
                         ("train.loss_weights.loss_mask=true", "loss_mask=True: expected a number"),
                         ("~train.loss_weights.loss_mask", "loss_mask: missing")):  # fmt: skip
        with pytest.raises(ConfigError, match=problem):
            MaskRCNNModule(smoke_cfg(bad))


def test_precision_auto_trains_in_bf16_only_where_the_cpu_has_bf16_units(smoke_cfg, monkeypatch):
    cfg = smoke_cfg("trainer.precision=auto", "trainer.accelerator=cpu")
    monkeypatch.setattr(precision_lib, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert make_trainer(cfg).precision == "bf16-mixed"
    monkeypatch.setattr(precision_lib, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert make_trainer(cfg).precision == "32-true"


def test_validation_runs_in_fp32_inside_a_bf16_training(smoke_cfg):
    """Lightning's bf16-mixed wraps validation in autocast too; the val figures stay eval.py's."""
    module = MaskRCNNModule(smoke_cfg())
    module.model.eval()
    dtypes = []
    box_head = module.model.roi_heads.box_head
    box_head.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    outputs = []
    recorder = {"process": lambda self, ids, out: outputs.append(out)}
    module.evaluator = type("Recorder", (), recorder)()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        module.validation_step(([torch.rand(3, 64, 64)], [0]), 0)
    assert outputs and dtypes == [torch.float32]
