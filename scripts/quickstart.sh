#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, start the
# daemon on its defaults (state directory ~/.local/state/loralpha: its
# Unix socket, token and SQLite database loralpha.db), run the example sweep
# examples/sweep-quick.json over the socket, print the best alpha per rank,
# stop the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DLA_REQUIRE_WEB_TEST=OFF

state="${LORALPHA_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/loralpha}"
db="$state/loralpha.db"
api() { curl -sf --unix-socket "$state/loralpha.sock" "$@"; }
url="http://localhost"
./build/loralpha serve &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  api "$url/v1/health" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { echo "quickstart: the daemon did not start" >&2; exit 1; }
  sleep 0.1
done

answer=$(api -X POST -H 'Content-Type: application/json' \
  --data-binary @examples/sweep-quick.json "$url/v1/sweeps")
id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$answer")
echo "quickstart: sweep $id submitted: $answer"
echo "quickstart: watch it at http://127.0.0.1:7787/#token=$(cat "$state/token") (the dashboard)"

while :; do
  sweep=$(api "$url/v1/sweeps/$id")
  progress=$(sed -n 's/.*"progress":\([0-9.e-]*\).*/\1/p' <<<"$sweep")
  echo "quickstart: progress $progress"
  grep -q '"state":"active"' <<<"$sweep" || break
  sleep 2
done

echo "quickstart: best alpha per rank (mean final eval loss over seeds):"
sqlite3 -box "$db" "SELECT rank, lr, best_alpha, printf('%.3g', mean_loss) AS loss, seeds
  FROM best_alpha WHERE sweep_id = $id ORDER BY rank"
api "$url/v1/sweeps/$id/analysis" >/dev/null # computed and stored
echo "quickstart: alpha*(r), refined, with its bootstrap interval:"
sqlite3 -box "$db" "SELECT rank, printf('%.3g', alpha) AS alpha_star,
  printf('[%.3g, %.3g]', ci_lo, ci_hi) AS interval, at_edge, ill_determined
  FROM alpha_star WHERE sweep_id = $id AND fraction = 1 ORDER BY rank"
echo "quickstart: the law alpha* = c r^p (free p, and p fixed at 0.5):"
sqlite3 -box "$db" "SELECT method, printf('%.3g [%.3g, %.3g]', c, c_lo, c_hi) AS c,
  printf('%.2f', p) AS p, printf('%.2f', r2) AS r2, n, n_excluded, poor
  FROM law_fits WHERE sweep_id = $id"
kill -TERM $pid
wait $pid
trap - EXIT
