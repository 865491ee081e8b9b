#!/usr/bin/env bash
# A tour of offboard on SQLite: the membership preset, 10,000 demo customers, their import,
# what is in the database, the plan of a purge of the recycle bin, and then the server: the
# web UI and the JSON API on http://127.0.0.1:8080 (log in as admin with the password it
# prints, also in demo-run/admin-password.txt; Ctrl-C stops it). Everything lands in ./demo-run (delete it to start again).
# DEMO_NO_SERVER=1 ./demo.sh stops after the plan.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet -p offboard
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
"$bin" users add admin --role admin
head -c 12 /dev/urandom | base64 | tr -d '/+=' >admin-password.txt  # no published password
"$bin" users password admin <admin-password.txt
"$bin" users add api --role admin
"$bin" users token api --label demo >api-token.txt   # for curl -H "Authorization: Bearer $(cat api-token.txt)"
set +x
[ -n "${DEMO_NO_SERVER:-}" ] && exit 0
echo "web UI: http://127.0.0.1:8080/ — user admin, password $(cat admin-password.txt)"
"$bin" serve --addr 127.0.0.1:8080
