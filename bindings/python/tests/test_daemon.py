"""Python and C programs in separate processes, on one node daemon.

`rtr start --foreground` runs the node; a C program (tests/c/peer_main.c +
peers.c, linked with librtr) and Python (``rtr.Connection.daemon(socket)``,
or ``rtr.Connection()`` with ``RTR_NODE_SOCKET`` in a subprocess) attach to
its Unix socket, each as its own process. The cargo build of the ``rtr``
binary and ``librtr.so`` is brought up to date first.
"""

from __future__ import annotations

import os
import socket as socketlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest
from _support import INCLUDE, REPO, cc, key, unsigned_range

import rtr

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def built() -> Dict[str, Path]:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug"
    r = subprocess.run(
        ["cargo", "build", "-q", "-p", "rtr-cli", "-p", "rtr-ffi"], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stderr
    out = {"rtr": target / "rtr", "lib": target}
    assert out["rtr"].is_file() and (target / "librtr.so").is_file()
    return out


@pytest.fixture(scope="module")
def peer(built: Dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("peer") / "peer"
    lib = built["lib"]
    cmd = [
        cc(), "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", str(INCLUDE),
        str(HERE / "c" / "peer_main.c"), str(HERE / "c" / "peers.c"), "-o", str(exe),
        "-L", str(lib), "-lrtr", f"-Wl,-rpath,{lib}",
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


@pytest.fixture
def node(built: Dict[str, Path], tmp_path: Path) -> Iterator[Path]:
    """A node daemon in the foreground, killed at the end of the test."""
    sock = tmp_path / "rtr.sock"
    proc = subprocess.Popen(
        [str(built["rtr"]), "start", "--foreground", "--dir", str(tmp_path / "node"), "--socket", str(sock)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        until = time.monotonic() + 20
        while True:
            try:
                with socketlib.socket(socketlib.AF_UNIX) as s:
                    s.connect(str(sock))
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
                assert time.monotonic() < until, "the node did not start"
                time.sleep(0.02)
        yield sock
    finally:
        proc.kill()
        proc.wait()


def env_for(sock: Path) -> Dict[str, str]:
    return dict(os.environ, RTR_NODE_SOCKET=str(sock))


def test_python_client_against_c_server_process(node: Path, peer: Path) -> None:
    server = subprocess.Popen([str(peer), "server", "PYDMN_C_SRV", "10"], env=env_for(node), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        conn = rtr.Connection.daemon(node)
        replies = []
        with conn.open_client("PYDMN_C_SRV") as ch:
            i = 0
            deadline = time.monotonic() + 20
            while i < 10:
                try:
                    with ch.transaction(timeout_ms=10_000) as tx:
                        tx.send(key(i, b"py%d" % i))
                        r = tx.receive(10)
                        assert r is not None
                        replies.append(r.data)
                    i += 1
                except rtr.Rejected as e:
                    # Until the C process has opened its channel, no server serves the key.
                    assert e.status == rtr.Status.NODSTFND and i == 0 and time.monotonic() < deadline, e
                    time.sleep(0.05)
        out, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert out.splitlines() == ["served 10"]
    assert replies == [b"C:py%d" % i for i in range(10)]


def test_c_client_process_against_python_server(node: Path, peer: Path, server_thread) -> None:  # type: ignore[no-untyped-def]
    conn = rtr.Connection.daemon(node)
    with conn.open_server("PYDMN_C_CLI", unsigned_range(0, 99)) as srv:
        s = server_thread(srv, lambda m: b"PY:" + m.data[4:])
        r = subprocess.run([str(peer), "client", "PYDMN_C_CLI", "42", "12"], env=env_for(node),
                           capture_output=True, text=True, timeout=60)  # fmt: skip
        stats = s.join()
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["committed 12"]
    assert (stats.messages, stats.accepted) == (12, 12)


def test_python_processes_use_rtr_node_socket(node: Path) -> None:
    """``rtr.Connection()`` in a process with RTR_NODE_SOCKET set talks to
    the daemon: a server process and a client process meet there."""
    server_code = (
        "import rtr, sys\n"
        "srv = rtr.Connection().open_server('PYDMN_PY', rtr.KeySegment(rtr.KeyType.UNSIGNED, 4, 0, 0, 99))\n"
        "print('open', flush=True)\n"
        "s = rtr.serve(srv, lambda m: m.data[4:].upper(), max_transactions=5, idle_timeout=30)\n"
        "print('served', s.accepted)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", server_code], env=env_for(node), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "open"
        client_code = (
            "import rtr, sys\n"
            "with rtr.Connection().open_client('PYDMN_PY') as ch:\n"
            "    for i in range(5):\n"
            "        with ch.transaction(timeout_ms=10000) as tx:\n"
            "            tx.send((i).to_bytes(4, sys.byteorder) + b'abc')\n"
            "            print(tx.receive(10).data.decode())\n"
        )
        c = subprocess.run([sys.executable, "-c", client_code], env=env_for(node), capture_output=True, text=True,
                           timeout=60)  # fmt: skip
        assert c.returncode == 0, c.stderr
        assert c.stdout.splitlines() == ["ABC"] * 5
        out, err = server.communicate(timeout=30)
        assert server.returncode == 0, err
        assert out.splitlines() == ["served 5"]
    finally:
        server.kill()


def test_daemon_gone_is_node_unavailable(tmp_path: Path) -> None:
    with pytest.raises(rtr.NodeUnavailable) as ei:
        rtr.Connection.daemon(tmp_path / "no-such.sock")
    assert ei.value.status == rtr.Status.NODEUNAVAIL




SERVER_LOOP = (
    "import rtr, sys\n"
    "srv = rtr.Connection().open_server(sys.argv[1], rtr.KeySegment(rtr.KeyType.UNSIGNED, 4, 0, 0, 99))\n"
    "print('open', flush=True)\n"
    "while True:\n"
    "    m = srv.receive(60)\n"
    "    print(m.msgtype.name, m.tid, flush=True)\n"
)


def test_a_server_process_killed_mid_transaction_has_it_replayed_to_another(node: Path) -> None:
    """kill -9 of a Python server process holding a transaction: the node
    presents it to the next server process, and the client sees it commit."""
    env = env_for(node)
    dying = subprocess.Popen([sys.executable, "-c", SERVER_LOOP, "PYDMN_KILL"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    survivor = None
    try:
        assert dying.stdout is not None
        assert dying.stdout.readline().strip() == "open"
        conn = rtr.Connection.daemon(node)
        with conn.open_client("PYDMN_KILL") as ch:
            ch.send(key(7, b"first"), accept=True)
            tid = ch.tid
            # The dying server got the transaction; kill it before it votes.
            assert dying.stdout.readline().split() == ["MSG1", str(tid)]
            dying.kill()
            dying.wait()
            survivor = subprocess.Popen([sys.executable, "-c", SERVER_LOOP, "PYDMN_KILL"], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
            assert survivor.stdout is not None
            assert survivor.stdout.readline().strip() == "open"
            outcome = ch.receive(30)
            assert outcome.msgtype == rtr.MsgType.ACCEPTED, outcome
            # The survivor saw the same transaction, then its commit. (Msg1 if
            # the dead server was killed before it voted; uncertain if its
            # next receive, an implicit accept, came first.)
            first = survivor.stdout.readline().split()
            assert first[1:] == [str(tid)] and first[0] in ("MSG1", "MSG1_UNCERTAIN"), first
            assert survivor.stdout.readline().split() == ["ACCEPTED", str(tid)]
            # And it serves what comes next.
            with ch.transaction(timeout_ms=10_000) as tx:
                tx.send(key(8, b"second"))
    finally:
        dying.kill()
        if survivor is not None:
            survivor.kill()
