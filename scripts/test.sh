#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, Rust unit and
# integration tests (which also compile and run the C and C++ examples and
# check that include/rtr.h matches the generator), and the Python tests when
# the Python bindings are present. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (Rust, C and C++ programs, header drift)"
cargo test --workspace

if [ -f bindings/python/pyproject.toml ]; then
  step "Python bindings: build, install and pytest (with the examples and mypy.stubtest)"
  # A virtual environment of our own: a stock Debian or Ubuntu Python refuses
  # `pip install` into the system interpreter (PEP 668), and nothing here
  # should land in it anyway. Kept under target/ and reused between runs.
  venv="${RTR_TEST_VENV:-target/test-venv}"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  py="$venv/bin/python"
  # mypy: tests/test_stubs.py runs mypy.stubtest on the native module's stubs.
  "$py" -m pip install --quiet maturin pytest mypy
  "$py" -m pip install --quiet ./bindings/python
  set +e
  # bindings/python/tests also runs examples/python (test_examples.py).
  "$py" -m pytest -q bindings/python/tests
  rc=$?
  set -e
  # pytest exits 5 when it collected no test: that is a failure here, not a pass.
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
  fi
  [ "$rc" -eq 0 ] || exit "$rc"

  step "Python wheel: stripped, manylinux2014 (zig; auditwheel show), tested in fresh venvs of Python 3.9 and 3.13"
  # Installs auditwheel and ziglang into the venv above, and pytest and mypy
  # into each fresh venv; prints SKIPPED for an interpreter it cannot find.
  RTR_TEST_VENV="$venv" bindings/python/check_wheel.sh
else
  step "Python bindings not present in this tree yet: no Python tests to run"
fi

step "all tests passed"
