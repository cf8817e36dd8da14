"""The project's exceptions: ``UserError`` is a mistake in the user's input, anything else a bug.

Scripts print a ``UserError`` as one line naming the file or key and exit 2; every other
exception is a bug in this project and is shown with its traceback (exit 1). So only raise a
``UserError`` where the input, config or output path is at fault, never to hide a failure.
"""

from __future__ import annotations


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none (Hydra's and
    torch's messages run over many lines; a one-line error shows only the first)."""
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


class BalloonShapesError(Exception):
    """Base of every exception this project raises on purpose."""


class UserError(BalloonShapesError):
    """A mistake in the user's input, config or output path; its message is one line."""


class TrainingDiverged(BalloonShapesError):
    """The loss became NaN or infinite: training stops with advice instead of garbage (exit 1)."""


class ConfigError(UserError, ValueError):
    """A config value that cannot work (the message names the key)."""


class DataError(UserError, ValueError):
    """A dataset, annotation or image file that cannot be used (the message names the file)."""


class WeightsError(UserError, ValueError):
    """A weights file or name that cannot be loaded into the model."""


class DownloadError(UserError):
    """A download that failed or did not verify; the message says what to do by hand."""


class OutputError(UserError):
    """An output path that cannot be written, is busy, or would overwrite the user's files."""
