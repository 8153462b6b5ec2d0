"""The Python examples run alone and print their expected summary.

Each runs as its own process (as a user would run it), with its journal in a
temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from _support import REPO

EXAMPLES = REPO / "examples" / "python"

EXPECTED = {
    "client.py": [
        "client: committed=200 rejected=0",
        "server: committed=200 rejected=0 replies=200",
    ],
    "concurrent_server.py": [
        "clients: committed=400 rejected=0",
        "servers: committed=400 rejected=0",
        "exactly_once=400 duplicates=0 missing=0",
        "several_servers=yes",
    ],
    "asyncio_bank.py": [
        "clients: committed=200 rejected=0",
        "servers: committed=200 total=2000 both_ranges=yes",
    ],
    "polled_server.py": [
        "clients: committed=180 rejected=0",
        "server: range0=60 range1=60 range2=60 rejected=0 prepares=60",
    ],
}


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example(name: str, tmp_path: Path) -> None:
    env = dict(os.environ, RTR_JOURNAL_DIR=str(tmp_path / "journal"))
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    lines: List[str] = r.stdout.splitlines()
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert lines == EXPECTED[name], r.stderr
    assert (tmp_path / "journal").is_dir()  # the journal went where it was told
    assert not (tmp_path / "rtr-journal").exists()
