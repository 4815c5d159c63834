"""Ctrl-C at chosen moments of ``lightfm train``, set-up included: always "interrupted" on stderr
and status 130, never a traceback; a model saved only after a completed epoch and only as
--on-interrupt says.

The real command runs in a subprocess through tests/interrupt_at.py, which makes the process send
itself SIGINT at one call (reading the file, building the matrices, a Numba kernel, an epoch):
where the signal lands does not depend on timing or load.
"""

import subprocess
import sys

import numpy as np
import pytest

from lightfm import LightFM

from .conftest import REPO
from .test_cli import run_cli

WRAPPER = REPO / "tests" / "interrupt_at.py"


@pytest.fixture(scope="module")
def plays(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupt")
    assert run_cli("demo", "--export", folder).returncode == 0
    return folder


def interrupt(folder, at, *args, system_error=False):
    command = [sys.executable, str(WRAPPER), at, *(["--system-error"] if system_error else []), "--", *args]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    assert "[interrupt_at] SIGINT" in result.stderr, result.stderr  # the chosen call was reached
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("[interrupt_at]")]
    return result, lines


TRAIN = ["train", "plays.csv", "--components", "4", "--epochs", "3", "--test-fraction", "0.2"]


@pytest.mark.parametrize(
    "at, system_error",
    [
        ("lightfm.cli.inputs:read_table", False),  # reading the interactions file
        ("lightfm.data:Dataset.build_interactions", False),  # building the matrices
        ("lightfm.backends._host_kernels:_build_positives", False),  # a Numba kernel, before epoch 1
        ("lightfm.backends._host_kernels:_build_positives", True),  # ... as CPython reports it from inside
        ("lightfm.lightfm:LightFM.fit_partial", True),
    ],
    ids=["reading", "matrices", "numba-kernel", "inside-numba-kernel", "inside-epoch-1"],
)
@pytest.mark.parametrize("choice", ["save", "ask"])
def test_ctrl_c_during_set_up_is_one_line_and_saves_nothing(plays, at, system_error, choice):
    output = plays / f"setup_{choice}.npz"
    result, lines = interrupt(plays, at, *TRAIN, "--on-interrupt", choice, "-o", output.name, system_error=system_error)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "SystemError" not in result.stderr
    assert lines == ["interrupted"], result.stderr
    assert not output.exists()


@pytest.mark.parametrize("choice", ["save", "discard", "ask"])
def test_ctrl_c_saves_the_last_completed_epoch_when_asked(plays, choice):
    """SIGINT during epoch 2 (epoch 1 trained and evaluated): exit 130, a loadable model of epoch 1 only
    with --on-interrupt save; without a terminal, "ask" saves nothing and says how to keep it."""
    output = plays / f"interrupted_{choice}.npz"
    result, lines = interrupt(
        plays, "lightfm.lightfm:LightFM.fit_partial@2",
        "train", "plays.csv", "--components", "8", "--epochs", "100", "--eval-every", "1",
        "--on-interrupt", choice, "-o", output.name,
    )  # fmt: skip
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[-1] == "interrupted", result.stderr
    assert "epoch   1:" in result.stdout and "epoch   2:" not in result.stdout
    if choice == "ask":  # no terminal here: nothing to ask on, so nothing saved, and the way to keep it named
        assert "--on-interrupt save keeps it" in result.stderr and not output.exists()
    elif choice == "save":
        model = LightFM.load(output)
        assert np.isfinite(model.item_embeddings).all()
        assert "Saved the model of training after epoch 1 " in result.stderr
    else:
        assert not output.exists()
        assert "Saved" not in result.stderr


def test_ctrl_c_while_reading_the_options(plays):
    result, lines = interrupt(plays, "argparse:ArgumentParser.parse_args", *TRAIN, "-o", "options.npz")
    assert result.returncode == 130 and lines == ["interrupted"], result.stderr


def test_an_error_raised_because_of_ctrl_c_is_still_ctrl_c():
    from lightfm.cli._io import caused_by_ctrl_c

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            try:
                raise SystemError("returned a result with an exception set") from interrupt
            except SystemError:
                raise ValueError("cleaning up") from None  # context kept, only not shown
    except ValueError as error:
        assert caused_by_ctrl_c(error)
    assert not caused_by_ctrl_c(ValueError("plain"))
    loop = ValueError("a")
    loop.__context__ = SystemError("b")
    loop.__context__.__context__ = loop
    assert not caused_by_ctrl_c(loop)
