"""docs/service.md runs as written: its shell blocks, in order, against real ``lightfm serve`` processes.

Each ```bash block's commands run in a temporary folder: ``lightfm`` commands as the CLI tests run them,
``lightfm serve`` as a server in its own process on a free port (the one the page's ``127.0.0.1:8000``
stands for), ``curl`` as itself, ``kill -HUP`` as SIGHUP to the running server. A ```bash block with
one ``curl`` and a ```json (or ```text) block right after it is a request and its answer: the answer
the server gives now must have the status shown (``-w ' %{http_code}'``, else 2xx) and the shape shown
(the same fields, as many items); error messages must match word for word. Scores and ids are not
compared, since they depend on the training run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from .conftest import REPO
from .test_cli import run_cli
from .test_serve import Server

PAGE = REPO / "docs" / "service.md"
_FENCE = re.compile(r"^```(?P<language>\w*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_DOCUMENTED_URL = "http://127.0.0.1:8000"
_STATUS = re.compile(r"^(?P<body>.*?)\s*(?P<status>\d{3})\s*$", re.DOTALL)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the page's examples use curl")


def blocks():
    """The page's fenced blocks in order: (language, body)."""
    return [(match.group("language"), match.group("body")) for match in _FENCE.finditer(PAGE.read_text())]


def commands(body: str):
    """A shell block's commands: continuation lines joined, comments dropped, ``a && b`` split."""
    joined = re.sub(r"\\\n\s*", " ", body)
    for line in joined.splitlines():
        line = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        if line:
            yield from (part.strip() for part in line.split("&&"))


def same_shape(got, shown, where="answer"):
    """The answer has the shown fields (error messages word for word) and as many items."""
    if isinstance(shown, dict):
        assert isinstance(got, dict) and set(got) == set(shown), f"{where}: fields {sorted(got)} != {sorted(shown)}"
        for key, value in shown.items():
            if key == "detail":
                assert got[key] == value, f"{where}: message {got[key]!r} != {value!r}"
            elif key not in ("scoring", "last_reload"):  # counters and times of this run
                same_shape(got[key], value, f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(got, list) and len(got) == len(shown), (
            f"{where}: {len(got)} entries, the page shows {len(shown)}"
        )
        for number, (item, value) in enumerate(zip(got, shown, strict=True)):
            same_shape(item, value, f"{where}[{number}]")
    else:
        assert got is None if shown is None else got is not None, f"{where}: {got!r} where the page shows {shown!r}"


def serve_options() -> str:
    return run_cli("serve", "--help").stdout


class Walkthrough:
    def __init__(self, folder):
        self.cwd = folder
        self.server: Server | None = None
        self.servers = 0
        self.requests = 0
        self.options = serve_options()
        self.not_run: list[str] = []  # commands needing an option the parser lacks (a failure)
        self.skipping = False

    def close(self):
        if self.server is not None:
            self.server.stop()

    def run(self, command: str):
        """Runs one command; returns curl's (status, answer) or None."""
        words = shlex.split(command)
        if words[0] == "pip":
            return None  # the package is installed already
        if words[0] == "cd":
            self.cwd = self.cwd / words[1]
            return None
        if words[:2] == ["lightfm", "serve"]:
            self.close()
            self.server = None
            missing = [word for word in words if word.startswith("--") and word not in self.options]
            self.skipping = bool(missing)
            if missing:  # and the requests to that server after it
                self.not_run.append(f"{command} (no {', '.join(missing)} in 'lightfm serve --help')")
                return None
            self.server = Server(words[2:], self.cwd, self.cwd / f"server{self.servers}.log")
            self.servers += 1
            return None
        if words[0] == "lightfm":
            result = run_cli(*words[1:], cwd=self.cwd)
            assert result.returncode == 0, f"{command}\n{result.stderr}"
            return None
        if words[:2] == ["kill", "-HUP"]:
            assert self.server is not None, command
            os.kill(self.server.process.pid, signal.SIGHUP)
            deadline = time.monotonic() + 20
            while "reload (SIGHUP)" not in self.server.log() and "Received SIGHUP" not in self.server.log():
                assert time.monotonic() < deadline, f"no reload after SIGHUP:\n{self.server.log()}"
                time.sleep(0.05)
            return None
        assert words[0] == "curl", f"the page runs a command this test does not know: {command}"
        if self.skipping:
            return None
        assert self.server is not None, f"{command}: no server started before it"
        arguments = [word.replace(_DOCUMENTED_URL, self.server.url) for word in words[1:]]
        shows_status = "-w" in arguments
        if not shows_status:
            arguments += ["-w", " %{http_code}"]
        result = subprocess.run(["curl", "-s", *arguments], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{command}: curl exited {result.returncode}\n{result.stderr}"
        match = _STATUS.match(result.stdout)
        assert match, f"{command}: no status in {result.stdout!r}"
        status, answer = int(match.group("status")), json.loads(match.group("body"))
        if not shows_status:
            assert 200 <= status < 300, f"{command}: {status} {answer}"
        self.requests += 1
        return status, answer


def test_the_service_page_runs_as_written(tmp_path):
    walk = Walkthrough(tmp_path)
    page = blocks()
    try:
        for number, (language, body) in enumerate(page):
            if language != "bash":
                continue
            lines = list(commands(body))
            answers = [walk.run(command) for command in lines]
            curls = [answer for answer in answers if answer is not None]
            following = page[number + 1] if number + 1 < len(page) else ("", "")
            if len(curls) == 1 and following[0] in ("json", "text"):
                status, answer = curls[0]
                shown = _STATUS.match(following[1].strip())
                shown_body = following[1].strip()
                if "-w" in lines[-1] and shown:
                    assert status == int(shown.group("status")), f"{lines[-1]}: {status}, the page shows {shown_body}"
                    shown_body = shown.group("body")
                same_shape(answer, json.loads(shown_body), lines[-1])
    finally:
        walk.close()
    # Every endpoint, and the page's server configurations.
    assert walk.servers >= 2 and walk.requests >= 10
    assert not walk.not_run, "not run: " + "; ".join(walk.not_run)


def test_the_page_is_in_the_site():
    navigation = (REPO / "mkdocs.yml").read_text()
    assert "service.md" in navigation
    text = PAGE.read_text()
    for endpoint in ("/health", "GET /recommend", "POST /recommend", "/similar", "/explain", "/reload", "/docs"):
        assert endpoint in text, endpoint
