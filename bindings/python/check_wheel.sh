#!/usr/bin/env bash
# The publishable wheel: build it as a release would (maturin with the
# python-wheel profile: no debug info, stripped; linked by zig against glibc
# 2.17, so that it is manylinux2014 and installs on any x86_64 Linux of the
# last ten years; maturin checks the tag's policy itself), check its tag and
# what it links with `auditwheel show`, then install it in fresh virtual
# environments of the oldest and the newest supported Python and run the
# whole test suite against it there.
#
# (`pip install ./bindings/python` and `pip wheel` build without zig: their
# wheel is tagged manylinux_2_34, as high as this system's glibc makes the
# Rust standard library's symbols; see pyproject.toml.)
#
#   bindings/python/check_wheel.sh            # Python 3.9 and 3.13
#   RTR_WHEEL_PYTHONS="python3.11" bindings/python/check_wheel.sh
#
# An interpreter is looked for on PATH, then in ~/.pyenv/versions. One that
# cannot be found is reported as SKIPPED; when none of the default ones is
# found (a stock machine, CI), the system's python3 tests the wheel instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
py="${RTR_TEST_VENV:-target/test-venv}/bin/python"
out=target/wheel-check
rm -rf "$out"
mkdir -p "$out/dist"

# ziglang: zig from PyPI, the linker that targets an old glibc.
"$py" -m pip install --quiet maturin auditwheel ziglang
# Where that zig is, for the C compiler wrapper too: the links' TLS crate
# (ring) compiles C with zig cc inside a build script, where the wrapper
# did not find zig by itself ("Failed to find zig").
zig=$("$py" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
CARGO_ZIGBUILD_ZIG_PATH="$zig" PATH="$(dirname "$py"):$PATH" "$py" -m maturin build --quiet --zig --compatibility manylinux2014 \
  -m bindings/python/Cargo.toml -o "$out/dist"
wheel=$(ls "$out"/dist/*.whl)
echo "wheel: $(basename "$wheel") ($(stat -c %s "$wheel") bytes)"
case "$wheel" in
  *-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl) ;;
  *) echo "unexpected wheel tag: $wheel (want cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64)" >&2; exit 1 ;;
esac
"$py" -m auditwheel show "$wheel" | tee "$out/auditwheel.txt"
# auditwheel wraps its lines: join them before looking.
tr '\n' ' ' <"$out/auditwheel.txt" | grep -q 'consistent with the following platform tag: "manylinux_2_17_x86_64"' || {
  echo "auditwheel does not find the wheel manylinux_2_17 (manylinux2014) compliant" >&2
  exit 1
}
so_size=$(unzip -l "$wheel" | awk '/_rtr.abi3.so/ {print $1}')
echo "extension: $so_size bytes"
if [ "$so_size" -gt 8000000 ]; then
  echo "the extension is over 8 MB: built with debug info, or not stripped?" >&2
  exit 1
fi

find_python() {
  # The first candidate that runs (a pyenv shim on PATH may not).
  local v=$1 p
  for p in $(command -v "$v" 2>/dev/null) "$HOME"/.pyenv/versions/"${v#python}"*/bin/"$v"; do
    if [ -x "$p" ] && "$p" -c 'import sys' >/dev/null 2>&1; then
      echo "$p"
      return
    fi
  done
}

ran=0
for v in ${RTR_WHEEL_PYTHONS:-python3.9 python3.13}; do
  interp=$(find_python "$v")
  if [ -z "$interp" ]; then
    echo "SKIPPED: no $v found for the wheel test"
    continue
  fi
  venv="$out/venv-$v"
  "$interp" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "$wheel" pytest mypy
  echo "==> $("$venv/bin/python" --version): the test suite against the installed wheel"
  # From outside the source tree, so that the installed package is tested.
  (cd /tmp && "$repo/$venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/bindings/python/tests")
  ran=$((ran + 1))
done
if [ "$ran" -eq 0 ] && [ -z "${RTR_WHEEL_PYTHONS:-}" ]; then
  # A stock machine (CI's clean clone) has neither 3.9 nor 3.13 as a rule:
  # the wheel is then tested with the system's python3 rather than not at all.
  interp=$(command -v python3)
  venv="$out/venv-python3"
  "$interp" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "$wheel" pytest mypy
  echo "==> $("$venv/bin/python" --version): the test suite against the installed wheel"
  (cd /tmp && "$repo/$venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/bindings/python/tests")
  ran=1
fi
[ "$ran" -gt 0 ] || { echo "no Python interpreter to test the wheel with" >&2; exit 1; }
