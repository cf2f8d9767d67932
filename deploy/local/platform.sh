#!/usr/bin/env bash
# Start/stop every Halcyon service and the gateway as local processes (no Docker needed).
#   platform.sh up      start services (servers must be up: make servers), seed demo data
#   platform.sh down    stop them
#   platform.sh status  show what runs
# Ports: gateway 8000; identity 8101, clinical 8102, scheduling 8103, inventory 8104,
# billing 8105, notifications 8106. Logs and pids in $HALCYON_RUN_DIR/services.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${HALCYON_RUN_DIR:-$ROOT/.run}"
SVC_DIR="$RUN_DIR/services"
UV="$(command -v uv || echo "$HOME/.local/bin/uv")"
declare -A PORTS=([identity]=8101 [clinical]=8102 [scheduling]=8103 [inventory]=8104 [billing]=8105 [notifications]=8106 [gateway]=8000)
ORDER=(identity clinical scheduling inventory billing notifications gateway)

say() { echo "[platform] $*"; }

env_for() {
  eval "$(bash "$ROOT/deploy/local/servers.sh" env)"
  export HALCYON_ENVIRONMENT="${HALCYON_ENVIRONMENT:-development}"
  export HALCYON_JWKS_URL="http://127.0.0.1:${PORTS[identity]}/.well-known/jwks.json"
  export HALCYON_SPAN_FILE="$RUN_DIR/spans.jsonl"
  export HALCYON_GATEWAY_UPSTREAMS
  HALCYON_GATEWAY_UPSTREAMS="$(printf '{"identity":"http://127.0.0.1:%s","clinical":"http://127.0.0.1:%s","scheduling":"http://127.0.0.1:%s","inventory":"http://127.0.0.1:%s","billing":"http://127.0.0.1:%s","notifications":"http://127.0.0.1:%s"}' \
    "${PORTS[identity]}" "${PORTS[clinical]}" "${PORTS[scheduling]}" "${PORTS[inventory]}" "${PORTS[billing]}" "${PORTS[notifications]}")"
}

running() { [[ -f "$SVC_DIR/$1.pid" ]] && kill -0 "$(cat "$SVC_DIR/$1.pid")" 2>/dev/null; }

start_one() {
  local svc="$1" port="${PORTS[$1]}"
  if running "$svc"; then say "$svc already running on :$port"; return; fi
  (cd "$ROOT" && setsid nohup "$UV" run --frozen uvicorn "halcyon.$svc.app:app" --host 127.0.0.1 --port "$port" \
      --no-access-log >"$SVC_DIR/$svc.log" 2>&1 < /dev/null & echo $! >"$SVC_DIR/$svc.pid")
}

wait_ready() {
  local svc="$1" port="${PORTS[$1]}" deadline=$((SECONDS + ${HALCYON_START_TIMEOUT:-90}))
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    if ! running "$svc"; then say "ERROR: $svc exited; last log lines:"; tail -n 40 "$SVC_DIR/$svc.log"; return 1; fi
    if (( SECONDS > deadline )); then say "ERROR: $svc not ready on :$port"; tail -n 40 "$SVC_DIR/$svc.log"; return 1; fi
    sleep 0.5
  done
  say "$svc ready on http://127.0.0.1:$port"
}

up() {
  mkdir -p "$SVC_DIR"
  env_for
  for svc in "${ORDER[@]}"; do start_one "$svc"; done
  for svc in "${ORDER[@]}"; do wait_ready "$svc"; done
  if [[ -f "$ROOT/deploy/local/seed_demo.py" && "${HALCYON_SEED:-1}" == "1" ]]; then
    (cd "$ROOT" && "$UV" run --frozen python deploy/local/seed_demo.py --gateway "http://127.0.0.1:${PORTS[gateway]}")
  fi
  say "Halcyon is up:"
  say "  gateway (the only public entry)  http://127.0.0.1:${PORTS[gateway]}"
  say "  API docs (merged OpenAPI)        http://127.0.0.1:${PORTS[gateway]}/docs"
  say "  traces: make traces   logs: $SVC_DIR/<service>.log"
}

down() {
  for svc in "${ORDER[@]}"; do
    if running "$svc"; then
      local pid; pid="$(cat "$SVC_DIR/$svc.pid")"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      say "stopped $svc"
    fi
    rm -f "$SVC_DIR/$svc.pid"
  done
}

status() {
  for svc in "${ORDER[@]}"; do
    if running "$svc"; then echo "$svc: running (:${PORTS[$svc]})"; else echo "$svc: stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
