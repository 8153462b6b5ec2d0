#!/usr/bin/env bash
# Build the release and install it under PREFIX (default /usr/local):
# PREFIX/bin/rtr, PREFIX/lib/librtr.so.* (SONAME librtr.so.0), librtr.a,
# PREFIX/include/rtr.h, pkg-config and CMake files, debug info in
# PREFIX/lib/debug. The same as `cargo xtask dist PREFIX`.
# A staged install (package builds): DESTDIR=/tmp/root scripts/install.sh
# /usr/local puts the files under /tmp/root/usr/local; they still name
# /usr/local.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-/usr/local}"
shift || true
exec cargo run --quiet --package xtask -- dist "$prefix" "$@"
