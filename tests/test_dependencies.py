"""One OpenCV: ``opencv-python``, the build trackers and TrackEval require. A second wheel
(``opencv-python-headless``, ``opencv-contrib-python``) writes the same ``cv2`` folder, and
uninstalling either then breaks the other."""

import importlib.metadata as md
import os

import cv2


def test_cv2_is_the_one_opencv_wheel_the_project_chose():
    providers = sorted(
        d.metadata["Name"] for d in md.distributions()
        if any(str(f).startswith("cv2/") for f in (d.files or ()))
    )  # fmt: skip
    assert providers == ["opencv-python"], providers
    files = {os.path.normpath(f.locate()) for f in md.distribution("opencv-python").files}
    assert os.path.normpath(cv2.__file__) in files
    assert cv2.__version__ == md.version("opencv-python").rsplit(".", 1)[0]
