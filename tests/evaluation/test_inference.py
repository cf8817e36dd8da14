"""How ``predict`` batches: the configured batch on a GPU, one image at a time on a CPU."""

import numpy as np
import torch

from balloon_shapes.evaluation.inference import InferenceSettings, images_per_pass, predict


class Recorder(torch.nn.Module):
    """A model that returns no detections and remembers how many images each call had."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def forward(self, images):
        self.calls.append(len(images))
        empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
        return [{**empty, "scores": torch.zeros(0), "masks": torch.zeros(0, 1, 8, 8)}] * len(images)


def test_a_cpu_takes_one_image_per_pass_a_gpu_the_batch():
    assert images_per_pass(torch.device("cpu"), 4) == 1
    assert images_per_pass(torch.device("cuda"), 4) == 4
    records = [
        {"image": np.zeros((8, 8, 3), np.uint8), "image_id": i, "height": 8, "width": 8}
        for i in range(5)
    ]
    model = Recorder()
    out = predict(
        model, records, InferenceSettings(0.5, batch_size=4, num_workers=0, device="cpu", amp=False)
    )
    assert model.calls == [1] * 5 and [o["image_id"] for o in out] == list(range(5))


def test_an_exported_model_loads_images_in_the_main_process(monkeypatch):
    from balloon_shapes.deploy.exported import ExportedDetector
    from balloon_shapes.evaluation import inference

    class Exported(ExportedDetector):  # the runtime's interface, no file behind it
        def __init__(self) -> None:
            torch.nn.Module.__init__(self)
            self.recorder = Recorder()

        def forward(self, images):
            return self.recorder(images)

    workers = []
    loader = inference.DataLoader

    def recording(*args, **kwargs):
        workers.append(kwargs["num_workers"])
        return loader(*args, **kwargs)

    monkeypatch.setattr(inference, "DataLoader", recording)
    records = [{"image": np.zeros((8, 8, 3), np.uint8), "image_id": 0, "height": 8, "width": 8}]
    settings = InferenceSettings(0.5, batch_size=1, num_workers=2, device="cpu", amp=False)
    predict(Recorder(), records, settings)
    predict(Exported(), records, settings)
    assert workers == [2, 0]  # workers' SIGCHLD handler + OpenVINO bf16: SIGSEGV (see the code)
