"""Helpers shared by the tests (imported after conftest set the environment)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

import rtr

REPO = Path(__file__).resolve().parents[3]
INCLUDE = REPO / "include"


class ServerThread:
    """``rtr.serve`` on a thread, stopped and joined at the end of the test."""

    def __init__(self, channels, handler, **kw) -> None:  # type: ignore[no-untyped-def]
        self.stop = threading.Event()
        self.stats: Optional[rtr.ServeStats] = None
        self.error: Optional[BaseException] = None
        self._t = threading.Thread(target=self._run, args=(channels, handler), kwargs=kw, daemon=True)
        self._t.start()

    def _run(self, channels, handler, **kw) -> None:  # type: ignore[no-untyped-def]
        try:
            self.stats = rtr.serve(channels, handler, stop=self.stop, **kw)
        except BaseException as e:  # surfaced by join()
            self.error = e

    def join(self, timeout: float = 10.0) -> rtr.ServeStats:
        self.stop.set()
        self._t.join(timeout)
        assert not self._t.is_alive(), "server thread did not stop"
        if self.error is not None:
            raise self.error
        assert self.stats is not None
        return self.stats


def key(n: int, payload: bytes = b"") -> bytes:
    """A message whose routing key (4-byte unsigned at offset 0) is ``n``."""
    return n.to_bytes(4, sys.byteorder) + payload


def unsigned_range(lo: int, hi: int) -> rtr.KeySegment:
    return rtr.KeySegment(rtr.KeyType.UNSIGNED, length=4, offset=0, low=lo, high=hi)




def cc() -> str:
    return os.environ.get("CC", "gcc")


def compile_c_library(source: Path, out: Path) -> Path:
    """Compile C code against include/rtr.h into a shared object. It is not
    linked against librtr: its rtr_* calls bind, when loaded with
    ``rtr.load_c_library``, to the C API in the Python module."""
    cmd = [
        cc(),
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Werror",
        "-pthread",
        "-shared",
        "-fPIC",
        "-I",
        str(INCLUDE),
        str(source),
        "-o",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stderr}"
    return out


def compile_c_program(source: Path, out: Path) -> Path:
    """Compile a C program that only uses rtr.h's constants (no calls)."""
    cmd = [cc(), "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", str(INCLUDE), str(source), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stderr}"
    return out
