#!/usr/bin/env bash
# A tour of offboard on SQLite: the membership preset, 10,000 demo customers, their import,
# what is in the database, and the plan of a purge of the recycle bin. Everything lands in ./demo-run (delete it to start again).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet
bin="$PWD/target/release/offboard"
[ -n "${CARGO_TARGET_DIR:-}" ] && bin="$CARGO_TARGET_DIR/release/offboard"
rm -rf demo-run && mkdir demo-run && cd demo-run
export OFFBOARD_DB=sqlite://offboard.db
set -x
"$bin" init --preset membership
"$bin" demo --preset membership --customers 10000 --seed 7 --out ./data
"$bin" import ./data
"$bin" stats
"$bin" customers list --view deleted --limit 10
"$bin" customers show 2
"$bin" purge --dry-run          # the plan: who would be erased, who is blocked and why
