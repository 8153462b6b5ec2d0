"""The type stubs match the runtime (mypy.stubtest) and the package type-checks."""

from __future__ import annotations

import ast
import enum
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import rtr
import rtr._enums

PACKAGE = Path(rtr.__file__).parent

needs_mypy = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy is not installed (scripts/test.sh installs it)"
)


def run_mypy(*args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=tempfile.gettempdir())


@needs_mypy
def test_stubtest_native_module_and_enums() -> None:
    r = run_mypy("mypy.stubtest", "rtr._rtr", "rtr._enums")
    hint = "\n(core's tables changed? run: python bindings/python/gen_enum_stubs.py)"
    assert r.returncode == 0, r.stdout + r.stderr + hint


@needs_mypy
def test_package_type_checks() -> None:
    r = run_mypy("mypy", "--no-incremental", "-p", "rtr")
    assert r.returncode == 0, r.stdout + r.stderr


def test_py_typed_is_installed() -> None:
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_rtr.pyi").is_file()


def test_enum_stub_values_match_runtime() -> None:
    """stubtest checks member names; this checks the values written in the stub."""
    tree = ast.parse((PACKAGE / "_enums.pyi").read_text())
    seen = 0
    for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
        runtime = getattr(rtr._enums, cls.name)
        assert issubclass(runtime, enum.Enum)
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant):
                name = stmt.targets[0].id  # type: ignore[attr-defined]
                assert int(runtime[name]) == stmt.value.value, f"{cls.name}.{name}"
                seen += 1
    assert seen >= 50


def test_no_flag_group_left_unnamed() -> None:
    """A new RTR_F_<GROUP>_* group in core must get an enum class here."""
    assert rtr._enums._UNNAMED_FLAG_GROUPS == []
