#!/usr/bin/env bash
# Issue 18's goals, side by side with PostgreSQL, on one disk, in one run.
#
#   scripts/bench-vs-postgres.sh [--dir DIR] [--seconds S] [--runs N] [--rtr PATH]
#
# Each run, on the same directory (so the same file system and disk):
#   1. a throwaway PostgreSQL (initdb into DIR, Unix socket only, in DIR;
#      fsync=on, synchronous_commit=on, full_page_writes=on) measured with
#      pgbench running a single-row INSERT (a 100-byte value, no index; one
#      durable commit per transaction) at 1 and 32 clients;
#   2. `rtr bench --clients 1,32 --daemon --linked --dir DIR` (100-byte
#      one-message transactions, journaled on DIR);
# then the goal ratios of issue 18, each computed within the run (the same
# minutes of a shared machine). With --runs N the runs alternate PostgreSQL
# and rtr N times and the medians of each figure and of each run's ratios
# are printed at the end. Ratios, not absolute numbers, are what to compare
# across machines.
#
# Not part of the test command: it needs PostgreSQL's server binaries and
# pgbench (Debian/Ubuntu: `apt-get install postgresql`; PG_BIN=... to point
# at another bin directory). Runs as any user; as root (initdb refuses root)
# the server runs as user `postgres` (or `nobody`) through runuser. The
# server is stopped and DIR's scratch directory removed at the end, also on
# an error or Ctrl-C.
set -euo pipefail

dir="${TMPDIR:-/var/tmp}"
seconds=10
runs=1
rtr=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --rtr) rtr="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '/^set -e/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "--runs: a whole number, at least 1" >&2; exit 2 ;; esac
case "$seconds" in ''|*[!0-9]*|0) echo "--seconds: a whole number, at least 1" >&2; exit 2 ;; esac

here="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "$rtr" ]; then
  rtr="$here/target/release/rtr"
  if [ ! -x "$rtr" ]; then
    echo "building rtr (cargo build --release -p rtr-cli)" >&2
    (cd "$here" && cargo build --release -p rtr-cli >&2)
  fi
fi
[ -x "$rtr" ] || { echo "no rtr binary at $rtr" >&2; exit 2; }

# PostgreSQL's server binaries: PG_BIN, else the newest /usr/lib/postgresql/*/bin, else PATH.
pg_bin="${PG_BIN:-}"
if [ -z "$pg_bin" ]; then
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [ -z "$pg_bin" ] && command -v initdb >/dev/null 2>&1; then
  pg_bin="$(dirname "$(command -v initdb)")"
fi
pgbench="$(command -v pgbench || true)"
[ -z "$pgbench" ] && [ -n "$pg_bin" ] && [ -x "$pg_bin/pgbench" ] && pgbench="$pg_bin/pgbench"
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ] || [ ! -x "$pg_bin/pg_ctl" ] || [ -z "$pgbench" ]; then
  cat >&2 <<'EOF'
PostgreSQL's server binaries (initdb, pg_ctl) or pgbench were not found.
Install them (Debian/Ubuntu: `sudo apt-get install postgresql`; the script
does not use the cluster the package creates), or set PG_BIN to the
directory holding initdb and pg_ctl.
EOF
  exit 2
fi

mkdir -p "$dir"
work="$(mktemp -d "$dir/rtr-vs-pg.XXXXXX")"
pgdata="$work/pgdata"
pgsock="$work/pgsock"
pglog="$work/postgres.log"
pguser=""
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  # initdb and postgres refuse to run as root.
  if id postgres >/dev/null 2>&1; then pguser=postgres; else pguser=nobody; fi
  as_pg() { runuser -u "$pguser" -- "$@"; }
  chmod 755 "$work"
fi
started=0
cleanup() {
  local rc=$?
  if [ "$started" = 1 ]; then
    as_pg "$pg_bin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

pg_up() {
  rm -rf "$pgdata" "$pgsock"
  mkdir -p "$pgdata" "$pgsock"
  [ -n "$pguser" ] && chown "$pguser" "$pgdata" "$pgsock" && touch "$pglog" && chown "$pguser" "$pglog"
  as_pg "$pg_bin/initdb" -D "$pgdata" -U bench --auth=trust --no-instructions >"$work/initdb.log" 2>&1 \
    || { cat "$work/initdb.log" >&2; return 1; }
  # Durable commits, as rtr's journal: every commit waits for its WAL fsync.
  as_pg "$pg_bin/pg_ctl" -D "$pgdata" -l "$pglog" -w -t 60 start -o \
    "-c listen_addresses='' -c unix_socket_directories='$pgsock' -c port=5432 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=64" \
    >/dev/null || { cat "$pglog" >&2; return 1; }
  started=1
  "$pg_bin/psql" -q -h "$pgsock" -p 5432 -U bench -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE TABLE tx (k integer, v text)" >/dev/null
}

pg_down() {
  as_pg "$pg_bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
  started=0
  rm -rf "$pgdata" "$pgsock"
}

# One transaction: a single-row INSERT of a 100-byte value (autocommit).
script="$work/insert.sql"
cat >"$script" <<'EOF'
\set k random(1, 2000000000)
INSERT INTO tx (k, v) VALUES (:k, 'bench-0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123');
EOF

# pgbench N: prints "tps avg_latency_us".
pg_run() {
  local n=$1 jobs=$1 out
  [ "$jobs" -gt 2 ] && jobs=2
  out="$("$pgbench" -n -M prepared -h "$pgsock" -p 5432 -U bench -c "$n" -j "$jobs" -T "$seconds" -f "$script" postgres 2>&1)" \
    || { echo "$out" >&2; return 1; }
  awk '/^latency average/ { lat = $4 * 1000 } /^tps = / { tps = $3 } END { printf "%.0f %.0f\n", tps, lat }' <<<"$out"
}

# Figures of every run, one "name value" per line, for the medians.
figures="$work/figures"
: >"$figures"
fig() { echo "$1 $2" >>"$figures"; printf '  %-34s %s\n' "$1" "$2"; }
# The value of figure $1 in this run's file $2.
val() { awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "nan" : v) }' "$2"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "nan" || b == "nan") print "nan"; else printf "%.2f\n", a / b }'; }

# The goals, as ratios of one run's figures: name, value, "le"/"ge", bound, text.
GOALS="daemon1_vs_disk le 1 daemon 1 client p50 / (fdatasync p50 + 2 Unix-socket round trips)
daemon1_vs_pg le 1 daemon 1 client p50 / PostgreSQL 1 client average latency
daemon32_vs_pg ge 2.5 daemon 32 clients tx/s / PostgreSQL 32 clients tx/s
daemon32_vs_embedded ge 0.8 daemon 32 clients tx/s / embedded 32 clients tx/s
linked1_vs_disk le 1 linked 1 client p50 / (fdatasync p50 + 1 TCP round trip)
linked1_vs_pg le 1 linked 1 client p50 / PostgreSQL 1 client average latency
linked32_vs_pg ge 2.5 linked 32 clients tx/s / PostgreSQL 32 clients tx/s
linked32_vs_embedded ge 0.8 linked 32 clients tx/s / embedded 32 clients tx/s
embedded1_vs_pg ge 2 embedded 1 client tx/s / PostgreSQL 1 client tx/s
embedded32_vs_pg ge 2 embedded 32 clients tx/s / PostgreSQL 32 clients tx/s"

ratios() {
  local f=$1 fs urtt trtt
  fs=$(val fsync.p50_us "$f"); urtt=$(val unix_rtt_us "$f"); trtt=$(val tcp_rtt_us "$f")
  echo "daemon1_vs_disk $(div "$(val daemon.1.p50_us "$f")" "$(awk -v a="$fs" -v b="$urtt" 'BEGIN { print a + 2 * b }')")"
  echo "daemon1_vs_pg $(div "$(val daemon.1.p50_us "$f")" "$(val pg.1.avg_us "$f")")"
  echo "daemon32_vs_pg $(div "$(val daemon.32.tps "$f")" "$(val pg.32.tps "$f")")"
  echo "daemon32_vs_embedded $(div "$(val daemon.32.tps "$f")" "$(val embedded.32.tps "$f")")"
  echo "linked1_vs_disk $(div "$(val linked.1.p50_us "$f")" "$(awk -v a="$fs" -v b="$trtt" 'BEGIN { print a + b }')")"
  echo "linked1_vs_pg $(div "$(val linked.1.p50_us "$f")" "$(val pg.1.avg_us "$f")")"
  echo "linked32_vs_pg $(div "$(val linked.32.tps "$f")" "$(val pg.32.tps "$f")")"
  echo "linked32_vs_embedded $(div "$(val linked.32.tps "$f")" "$(val embedded.32.tps "$f")")"
  echo "embedded1_vs_pg $(div "$(val embedded.1.tps "$f")" "$(val pg.1.tps "$f")")"
  echo "embedded32_vs_pg $(div "$(val embedded.32.tps "$f")" "$(val pg.32.tps "$f")")"
}

# The median of each figure over the runs.
med() {
  awk -v k="$1" '$1 == k && $2 != "nan" { print $2 }' "$figures" | sort -g \
    | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# Prints the goals with the values given by function $1 (a goal name -> value).
print_goals() {
  local get=$1 name op bound text v ok
  while read -r name op bound text; do
    v=$($get "$name")
    ok="$(awk -v v="$v" -v op="$op" -v b="$bound" 'BEGIN { if (v == "nan") print "?"; else if (op == "le") print (v + 0 <= b + 0 ? "met" : "NOT met"); else print (v + 0 >= b + 0 ? "met" : "NOT met") }')"
    printf '  %-76s %6s %s %-4s %s\n' "$text" "$v" "$([ "$op" = le ] && echo '<=' || echo '>=')" "$bound" "$ok"
  done <<<"$GOALS"
}

for run in $(seq 1 "$runs"); do
  echo "== run $run of $runs in $dir ($(nproc) cores); PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'); $(date -u +%H:%M:%S) UTC"
  this="$work/run-figures"
  : >"$this"
  pg_up
  r1="$(pg_run 1)"
  r32="$(pg_run 32)"
  read -r tps1 lat1 <<<"$r1"
  read -r tps32 lat32 <<<"$r32"
  pg_down
  printf 'pg.1.tps %s\npg.1.avg_us %s\npg.32.tps %s\npg.32.avg_us %s\n' "$tps1" "$lat1" "$tps32" "$lat32" >>"$this"

  out="$work/rtr-bench.txt"
  "$rtr" bench --clients 1,32 --daemon --linked --seconds "$seconds" --dir "$work" >"$out" 2>"$work/rtr-bench.err" \
    || { cat "$out" "$work/rtr-bench.err" >&2; exit 1; }
  # Rows: "clients tx/s p50 p99 samples p50/fsync app-sys app-csw node-sys
  # node-csw app-cpu node-cpu" under the "embedded/daemon/linked mode"
  # headings (the CPU columns, microseconds per transaction, only in
  # binaries that print them).
  awk '
    /^baseline: one fdatasync/ { for (i = 1; i <= NF; i++) if ($i == "p50") print "fsync.p50_us", $(i + 1) }
    /^embedded mode/ { m = "embedded" }
    /^daemon mode/ { m = "daemon"; print "unix_rtt_us", $(NF - 1) }
    /^linked mode/ { m = "linked"; print "tcp_rtt_us", $(NF - 1) }
    m != "" && $1 ~ /^[0-9]+$/ && NF >= 10 {
      print m "." $1 ".tps", $2; print m "." $1 ".p50_us", $3
      print m "." $1 ".app_sys", $7; print m "." $1 ".app_csw", $8; print m "." $1 ".node_sys", $9; print m "." $1 ".node_csw", $10
      if (NF >= 12) { print m "." $1 ".app_cpu_us", $11; print m "." $1 ".node_cpu_us", $12 }
    }
  ' "$out" >>"$this"
  ratios "$this" >>"$this"
  while read -r k v; do fig "$k" "$v"; done <"$this"
done

echo
echo "== medians of $runs run(s) on $dir"
printf '  %-22s %10s %10s %10s %10s\n' "" "1: tx/s" "1: lat us" "32: tx/s" "32: lat us"
printf '  %-22s %10s %10s %10s %10s\n' "PostgreSQL (avg lat)" "$(med pg.1.tps)" "$(med pg.1.avg_us)" "$(med pg.32.tps)" "$(med pg.32.avg_us)"
for m in embedded daemon linked; do
  printf '  %-22s %10s %10s %10s %10s\n' "rtr $m (p50)" "$(med $m.1.tps)" "$(med $m.1.p50_us)" "$(med $m.32.tps)" "$(med $m.32.p50_us)"
done
echo "  one fdatasync p50 $(med fsync.p50_us) us; one Unix-socket round trip p50 $(med unix_rtt_us) us; one TCP round trip p50 $(med tcp_rtt_us) us"
echo
echo "== issue 18 goals: medians of each run's ratio (ratios within a run share its minutes of the machine)"
print_goals med
echo
echo "  per transaction (medians): system calls, context switches and CPU us, application / node threads"
for m in embedded daemon linked; do
  for n in 1 32; do
    printf '  %-9s %2s clients: app sys %6s  app csw %6s  node sys %6s  node csw %6s  app cpu %6s  node cpu %6s\n' "$m" "$n" \
      "$(med $m.$n.app_sys)" "$(med $m.$n.app_csw)" "$(med $m.$n.node_sys)" "$(med $m.$n.node_csw)" \
      "$(med $m.$n.app_cpu_us)" "$(med $m.$n.node_cpu_us)"
  done
done
