"""Our catalog inside Detectron2: every dataset in its ``DatasetCatalog`` with its metadata,
generated shapes readable by its own ``DatasetMapper`` (a ``shapes://`` path handler), and the
shapes train split as an endless stream its ``build_detection_train_loader`` accepts.

    from balloon_shapes.d2.datasets import register_in_detectron2
    register_in_detectron2({"balloon_train": {"root": "data/balloon"}})
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from iopath.common.file_io import PathHandler
from torch.utils.data import IterableDataset, get_worker_info

from balloon_shapes.data import catalog, shapes
from balloon_shapes.errors import DataError

ENDLESS = ("shapes_train",)  # 2**31 images: Detectron2 would list them all; stream them instead


class ShapesPathHandler(PathHandler):
    """Opens ``shapes://<seed>/<index>.png[?spec]`` as the PNG it names, drawn on the fly, so
    Detectron2's ``read_image`` (mapper, Visualizer, demos) reads generated images as files."""

    def _get_supported_prefixes(self) -> list[str]:
        return [shapes.PREFIX]

    def _open(self, path: str, mode: str = "rb", buffering: int = -1, **kwargs) -> io.BytesIO:
        if mode not in ("r", "rb"):
            raise OSError(f"{path}: generated images are read-only")
        return io.BytesIO(shapes.png_bytes(path))

    def _exists(self, path: str, **kwargs) -> bool:
        try:
            shapes.parse_file_name(path)
        except DataError:
            return False
        return True

    def _isfile(self, path: str, **kwargs) -> bool:
        return self._exists(path)


class EndlessDicts(IterableDataset):
    """Dataset dicts ``dicts[k], dicts[k + stride], ...`` forever, where each Detectron2 rank and
    data-loader worker takes its own ``k``: no two of them yield the same image."""

    def __init__(self, dicts) -> None:
        self.dicts = dicts

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        start = comm.get_rank() * workers + worker
        for i in itertools.count(start, comm.get_world_size() * workers):
            yield self.dicts[i % len(self.dicts)]


def _loader(name: str, args: dict):
    if name in ENDLESS:
        return lambda: EndlessDicts(catalog.get(name, **args))
    return catalog.bind(name, **args)


def register_in_detectron2(loader_args: dict[str, dict] | None = None) -> list[str]:
    """Register every catalog dataset (and the ``shapes://`` reader) with Detectron2.

    Args:
        loader_args: per dataset name, the keyword arguments its loader needs (e.g.
            ``{"balloon_train": {"root": "data/balloon"}}``); names without them use defaults.
    Returns:
        The names registered now (names Detectron2 already knows are left as they are).
    """
    if not any(isinstance(h, ShapesPathHandler) for h in PathManager._path_handlers.values()):
        PathManager.register_handler(ShapesPathHandler())
    loader_args = loader_args or {}
    done = []
    for name in catalog.names():
        if name in DatasetCatalog.list():
            continue
        DatasetCatalog.register(name, _loader(name, loader_args.get(name, {})))
        MetadataCatalog.get(name).set(**catalog.metadata(name))  # thing_classes, evaluator_type
        done.append(name)
    return done
