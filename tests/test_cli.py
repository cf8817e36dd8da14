"""User mistakes are one line and exit 2; anything else is a bug shown with its traceback."""

import pytest

from balloon_shapes import cli
from balloon_shapes.errors import ConfigError, DataError, OutputError, TrainingDiverged


def raising(e: BaseException):
    def fn(cfg):
        raise e

    return fn


@pytest.mark.parametrize(
    "error", [ConfigError("k=1: bad"), DataError("x.jpg: bad"), OutputError("o: bad")]
)
def test_user_errors_are_one_line_exit_2(capsys, error):
    assert cli.run_main(raising(error), ["+experiment=smoke"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: {error}"]


@pytest.mark.parametrize(
    "error", [ValueError("oops"), KeyError("k"), TypeError("t"), IndexError("i")]
)
def test_builtin_exceptions_are_bugs_with_a_traceback(capsys, error):
    assert cli.run_main(raising(error), ["+experiment=smoke"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith(cli.BUG_LINE.split(": ", 1)[1])


def test_config_mistakes_are_user_errors(capsys):
    assert cli.run_main(lambda cfg: {}, ["+experiment=smoke", "train.max_itr=3"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_divergence_exits_1_with_advice(capsys):
    assert cli.run_main(raising(TrainingDiverged("loss nan")), ["+experiment=smoke"]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_debug_env_reraises_user_errors(monkeypatch):
    monkeypatch.setenv("BALLOON_SHAPES_DEBUG", "1")
    with pytest.raises(DataError):
        cli.run_main(raising(DataError("x")), ["+experiment=smoke"])
