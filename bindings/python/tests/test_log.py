"""The library's diagnostics reach Python: the ``logging`` module's "rtr"
logger by default, a handler set with ``rtr.set_log_handler``, or standard
error with ``set_log_handler(None)``.

The diagnostic: the process-wide node cannot open its journal
(RTR_JOURNAL_DIR names a directory under a regular file), so the first call
fails with NodeUnavailable and the library says why once. Each case runs in
a fresh interpreter (the process-wide node starts once per process).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PRELUDE = """
import logging, os, sys, threading, rtr
open("blocker", "w").close()
os.environ["RTR_JOURNAL_DIR"] = "blocker/journal"
def fail():
    try:
        rtr.open_channel(flags=rtr.OpenFlag.CLIENT, facility="LOGTEST")
    except rtr.NodeUnavailable:
        print("refused")
"""


def run(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-c", PRELUDE + body],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_a_handler_gets_the_diagnostics_with_their_level(tmp_path: Path) -> None:
    r = run(
        tmp_path,
        """
seen = []
got = threading.Event()
def handler(level, message):
    seen.append((level, message, threading.current_thread() is threading.main_thread()))
    got.set()
rtr.set_log_handler(handler)
fail()
assert got.wait(20), "the handler was not called"
level, message, on_main = seen[0]
print(logging.getLevelName(level), "journal" in message, "main" if on_main else "library-thread")
""",
    )
    assert r.stdout.split() == ["refused", "ERROR", "True", "library-thread"], r.stdout + r.stderr
    assert "journal" not in r.stderr, r.stderr


def test_by_default_they_go_to_the_rtr_logger(tmp_path: Path) -> None:
    r = run(
        tmp_path,
        """
logging.basicConfig(format="logged: %(name)s %(levelname)s %(message)s", stream=sys.stderr)
got = threading.Event()
class Flag(logging.Handler):
    def emit(self, record):
        got.set()
logging.getLogger("rtr").addHandler(Flag())
fail()
assert got.wait(20), "nothing reached the rtr logger"
""",
    )
    assert r.stdout.split() == ["refused"], r.stdout
    logged = [line for line in r.stderr.splitlines() if line.startswith("logged: ")]
    assert len(logged) == 1, r.stderr
    assert logged[0].startswith("logged: rtr ERROR ") and "journal" in logged[0], r.stderr


def test_none_sends_them_to_standard_error(tmp_path: Path) -> None:
    r = run(tmp_path, "rtr.set_log_handler(None)\nfail()\n")
    assert r.stdout.split() == ["refused"], r.stdout
    assert "rtr: " in r.stderr and "journal" in r.stderr, r.stderr


def test_a_handler_must_be_callable() -> None:
    import rtr

    with pytest.raises(TypeError):
        rtr.set_log_handler(42)  # type: ignore[arg-type]
