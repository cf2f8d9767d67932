#!/usr/bin/env bash
# Start/stop every Halcyon service and the gateway as local processes (no Docker needed).
#   platform.sh up      start services (servers must be up: make servers), seed demo data
#   platform.sh down    stop them
#   platform.sh status  show what runs
# Ports: gateway 8000; identity 8101, clinical 8102, scheduling 8103, inventory 8104,
# billing 8105, notifications 8106, console 8107 (served by the gateway at /console).
# Logs and pids in $HALCYON_RUN_DIR/services.
# Instances: <SERVICE>_INSTANCES=N (e.g. BILLING_INSTANCES=3) runs N processes of a
# service on ports base, base+100, base+200 …; they share its consumer group and the
# gateway spreads requests over them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${HALCYON_RUN_DIR:-$ROOT/.run}"
SVC_DIR="$RUN_DIR/services"
UV="$(command -v uv || echo "$HOME/.local/bin/uv")"
declare -A PORTS=([identity]=8101 [clinical]=8102 [scheduling]=8103 [inventory]=8104 [billing]=8105 [notifications]=8106 [console]=8107 [gateway]=8000)
ORDER=(identity clinical scheduling inventory billing notifications console gateway)

say() { echo "[platform] $*"; }

env_for() {
  eval "$(bash "$ROOT/deploy/local/servers.sh" env)"
  export HALCYON_ENVIRONMENT="${HALCYON_ENVIRONMENT:-development}"
  export HALCYON_JWKS_URL="http://127.0.0.1:${PORTS[identity]}/.well-known/jwks.json"
  export HALCYON_SPAN_FILE="$RUN_DIR/spans.jsonl"
  local json="" svc
  for svc in identity clinical scheduling inventory billing notifications; do
    json+="${json:+,}\"$svc\":\"$(instance_urls "$svc")\""
  done
  export HALCYON_GATEWAY_UPSTREAMS="{$json}"
  # The web console: the gateway serves it on its own origin; it calls the gateway's API.
  export HALCYON_GATEWAY_CONSOLE_UPSTREAM="http://127.0.0.1:${PORTS[console]}"
  export HALCYON_CONSOLE_GATEWAY_URL="http://127.0.0.1:${PORTS[gateway]}"
}

instances() { local var="${1^^}_INSTANCES"; echo "${!var:-1}"; }

instance_urls() {
  local svc="$1" i urls=""
  for ((i = 0; i < $(instances "$svc"); i++)); do
    urls+="${urls:+,}http://127.0.0.1:$((PORTS[$svc] + 100 * i))"
  done
  echo "$urls"
}

# An instance is "<service>" (the first) or "<service>-<i>"; its port is base + 100*i.
# Each pidfile holds a session/process-group leader (setsid): stopping signals the whole
# group, so `uv run` and the server it started go together.
running() { [[ -f "$SVC_DIR/$1.pid" ]] && kill -0 "$(cat "$SVC_DIR/$1.pid")" 2>/dev/null; }

instance_names() {
  local svc="$1" i
  for ((i = 0; i < $(instances "$svc"); i++)); do
    if ((i == 0)); then echo "$svc:${PORTS[$svc]}"; else echo "$svc-$i:$((PORTS[$svc] + 100 * i))"; fi
  done
}

start_one() {
  local name="$1" port="$2" svc="${1%%-*}"
  if running "$name"; then say "$name already running on :$port"; return; fi
  (cd "$ROOT" || exit 1; setsid nohup "$UV" run --frozen uvicorn "halcyon.$svc.app:app" --host 127.0.0.1 --port "$port" \
      --no-access-log --reset-contextvars >"$SVC_DIR/$name.log" 2>&1 < /dev/null & echo $! >"$SVC_DIR/$name.pid")
}

wait_ready() {
  local name="$1" port="$2" deadline=$((SECONDS + ${HALCYON_START_TIMEOUT:-120}))
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    if ! running "$name"; then say "ERROR: $name exited; last log lines:"; tail -n 40 "$SVC_DIR/$name.log"; return 1; fi
    if (( SECONDS > deadline )); then say "ERROR: $name not ready on :$port"; tail -n 40 "$SVC_DIR/$name.log"; return 1; fi
    sleep 0.5
  done
  say "$name ready on http://127.0.0.1:$port"
}

# Local stand-ins for the outside world: an SMTP sink (see what was emailed at
# http://127.0.0.1:8025/messages) and an SMS provider that sends delivery receipts.
start_helpers() {
  if ! running devsmtp; then
    (cd "$ROOT" || exit 1; HALCYON_DEVSMTP_SMTP_PORT=1025 HALCYON_DEVSMTP_HTTP_PORT=8025 HALCYON_DEVSMTP_DIR="$RUN_DIR/mail" \
      setsid nohup "$UV" run --frozen python -m halcyon.notifications.devsmtp \
      >"$SVC_DIR/devsmtp.log" 2>&1 < /dev/null & echo $! >"$SVC_DIR/devsmtp.pid")
  fi
  if ! running devsms; then
    (cd "$ROOT" || exit 1; HALCYON_DEVSMS_PORT=8125 HALCYON_DEVSMS_WEBHOOK_BASE="http://127.0.0.1:${PORTS[notifications]}" \
      setsid nohup "$UV" run --frozen python -m halcyon.notifications.devsms \
      >"$SVC_DIR/devsms.log" 2>&1 < /dev/null & echo $! >"$SVC_DIR/devsms.pid")
  fi
}

up() {
  mkdir -p "$SVC_DIR" "$RUN_DIR/mail"
  env_for
  start_helpers
  local svc entry
  for svc in "${ORDER[@]}"; do
    for entry in $(instance_names "$svc"); do start_one "${entry%%:*}" "${entry##*:}"; done
  done
  for svc in "${ORDER[@]}"; do
    for entry in $(instance_names "$svc"); do wait_ready "${entry%%:*}" "${entry##*:}"; done
  done
  if [[ -f "$ROOT/deploy/local/seed_demo.py" && "${HALCYON_SEED:-1}" == "1" ]]; then
    (cd "$ROOT" && "$UV" run --frozen python deploy/local/seed_demo.py --gateway "http://127.0.0.1:${PORTS[gateway]}" \
      --identity "http://127.0.0.1:${PORTS[identity]}" --out "$RUN_DIR/demo-logins.txt")
  fi
  say "Halcyon is up:"
  say "  gateway (the only public entry)  http://127.0.0.1:${PORTS[gateway]}"
  say "  staff web console               http://127.0.0.1:${PORTS[gateway]}/console"
  say "  API docs (merged OpenAPI)        http://127.0.0.1:${PORTS[gateway]}/docs"
  say "  email sent (SMTP sink)          http://127.0.0.1:8025/messages"
  say "  traces: make traces   logs: $SVC_DIR/<service>.log"
}

down() {
  local pidfile name pid
  shopt -s nullglob
  for pidfile in "$SVC_DIR"/*.pid; do
    name="$(basename "$pidfile" .pid)"
    if running "$name"; then
      pid="$(cat "$pidfile")"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      say "stopped $name"
    fi
    rm -f "$pidfile"
  done
}

status() {
  local pidfile name
  shopt -s nullglob
  for pidfile in "$SVC_DIR"/*.pid; do
    name="$(basename "$pidfile" .pid)"
    if running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
