#!/usr/bin/env bash
# Local Halcyon servers without Docker: Apache Kafka 4.x (KRaft, single node,
# broker+controller) and FerretDB 1.24 (MongoDB wire protocol) on PostgreSQL
# (Debian's package, a cluster of our own in the run dir; the default) or SQLite.
#
#   servers.sh start|stop|status|wipe|env
#   servers.sh start-kafka|stop-kafka|start-mongo|stop-mongo
#
# start waits until each server really serves requests (Kafka: ApiVersions +
# Metadata; PostgreSQL: startup packet to ReadyForQuery; FerretDB: OP_MSG ping, see
# probe.py) and is a no-op for a server that is already up. start-mongo starts
# PostgreSQL first (FerretDB's backend); stop-mongo stops both. status exits 0 only
# if all are running and ready (else 3).
# `eval "$(servers.sh env)"` sets HALCYON_KAFKA_BOOTSTRAP and HALCYON_MONGO_URL.
#
# Kafka jars come from Maven Central (mvn, see kafka/pom.xml); FerretDB is built
# from its Go module (go). Both are cached in $HALCYON_CACHE_DIR, so only the
# first start is slow. Data, pid files and logs live in $HALCYON_RUN_DIR.
#
# Environment (all optional):
#   HALCYON_RUN_DIR               default <repo>/.run
#   HALCYON_CACHE_DIR             default ~/.cache/halcyon
#   HALCYON_KAFKA_PORT            default 19092 (client listener, 127.0.0.1)
#   HALCYON_KAFKA_CONTROLLER_PORT default 19093
#   HALCYON_KAFKA_PARTNER_PORT  default 19094 (SASL/SCRAM listener for partners, ACL-checked)
#   Keep custom ports below 32768: above it (the ephemeral range) an outgoing connection
#   can take the port while a server is stopped, and its restart fails to bind.
#   HALCYON_MONGO_PORT            default 27018 (FerretDB, 127.0.0.1)
#   HALCYON_MONGO_BACKEND         default postgresql: FerretDB stores in a PostgreSQL
#                                 cluster of its own ($HALCYON_RUN_DIR/postgres, run
#                                 as the unprivileged user "postgres" when started as
#                                 root; Debian's postgresql is apt-installed if
#                                 missing); "sqlite": one SQLite file per database in
#                                 $HALCYON_RUN_DIR/ferretdb/data (no PostgreSQL). The
#                                 two keep separate data; switching needs a restart.
#   HALCYON_POSTGRES_PORT         default 15432 (PostgreSQL, 127.0.0.1 only, trust auth)
#   HALCYON_POSTGRES_BIN          default: the newest /usr/lib/postgresql/*/bin, else
#                                 the directory of `pg_ctl` on PATH
#   HALCYON_KAFKA_PARTITIONS      default 3 (num.partitions for auto-created topics)
#   HALCYON_START_TIMEOUT         default 120 (seconds to wait for readiness,
#                                 not counting the first-time fetch/build)
#   HALCYON_STOP_TIMEOUT          default 20 (seconds between SIGTERM and SIGKILL)
#   HALCYON_KAFKA_VERSION         default 4.4.0
#   HALCYON_FERRETDB_VERSION      default v1.24.2
#   HALCYON_KAFKA_HEAP_OPTS       default "-Xms256m -Xmx768m"
#   HALCYON_MONGO_LOG_LEVEL       default warn
#   HALCYON_FERRETDB_SERIALIZE_WRITES  default 1: build FerretDB with
#                                 ferretdb/halcyon_serialize_writes.go, which makes
#                                 single-document updates atomic (stock 1.24 races,
#                                 see that file), and ferretdb/halcyon_pushdown.go,
#                                 which lets SQLite filter equality queries (stock
#                                 1.24 decodes the whole collection for anything but
#                                 {_id}); 0 builds stock FerretDB
#   HALCYON_FERRETDB_WRITE_LOCK   scope of the write lock: "collection" (the default on
#                                 PostgreSQL), "database" (the default on SQLite, where
#                                 a database is one file with one writer at a time) or
#                                 "global" (the patch's first version; only the
#                                 benchmark's before/after uses it)
#   HALCYON_FERRETDB_SQLITE_QUERY unset; else appended to FerretDB's --sqlite-url, e.g.
#                                 "_pragma=busy_timeout(2000)" (FerretDB's default is
#                                 10000 ms; used to diagnose write stalls)
#   JAVA                          default: $JAVA_HOME/bin/java or java
set -euo pipefail
set +m # no job control: background children stay in our process group until setsid

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

RUN_DIR=$(realpath -m "${HALCYON_RUN_DIR:-$REPO/.run}")
CACHE_DIR=$(realpath -m "${HALCYON_CACHE_DIR:-$HOME/.cache/halcyon}")
KAFKA_VERSION=${HALCYON_KAFKA_VERSION:-4.4.0}
FERRETDB_VERSION=${HALCYON_FERRETDB_VERSION:-v1.24.2}
KAFKA_PORT=${HALCYON_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${HALCYON_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_PARTNER_PORT=${HALCYON_KAFKA_PARTNER_PORT:-19094}
MONGO_PORT=${HALCYON_MONGO_PORT:-27018}
MONGO_BACKEND=${HALCYON_MONGO_BACKEND:-postgresql}
case $MONGO_BACKEND in postgresql | sqlite) ;; *) echo "[servers] ERROR: HALCYON_MONGO_BACKEND must be postgresql or sqlite, not '$MONGO_BACKEND'" >&2; exit 2 ;; esac
if [[ $MONGO_BACKEND == sqlite ]]; then WRITE_LOCK=${HALCYON_FERRETDB_WRITE_LOCK:-database}
else WRITE_LOCK=${HALCYON_FERRETDB_WRITE_LOCK:-collection}; fi
POSTGRES_PORT=${HALCYON_POSTGRES_PORT:-15432}
POSTGRES_USER=halcyon # the cluster's superuser (trust auth on 127.0.0.1 only)
KAFKA_PARTITIONS=${HALCYON_KAFKA_PARTITIONS:-3}
START_TIMEOUT=${HALCYON_START_TIMEOUT:-120}
STOP_TIMEOUT=${HALCYON_STOP_TIMEOUT:-20}
KAFKA_HEAP_OPTS=${HALCYON_KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
MONGO_LOG_LEVEL=${HALCYON_MONGO_LOG_LEVEL:-warn}
HOST=127.0.0.1
PYTHON=${HALCYON_PYTHON:-python3}
if [[ -n ${JAVA:-} ]]; then :
elif [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java
else JAVA=java; fi

PROBE="$HERE/probe.py"
KAFKA_POM="$HERE/kafka/pom.xml"
KAFKA_LOG4J="$HERE/kafka/log4j2.properties"
KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
FERRETDB_PATCH="$HERE/ferretdb/halcyon_serialize_writes.go"
FERRETDB_PUSHDOWN="$HERE/ferretdb/halcyon_pushdown.go"
FERRETDB_PG_PUSHDOWN="$HERE/ferretdb/halcyon_pushdown_postgresql.go"
if [[ ${HALCYON_FERRETDB_SERIALIZE_WRITES:-1} == 1 ]]; then
  FERRETDB_BIN="$CACHE_DIR/ferretdb-${FERRETDB_VERSION#v}/ferretdb-serialized-$(cat "$FERRETDB_PATCH" "$FERRETDB_PUSHDOWN" "$FERRETDB_PG_PUSHDOWN" | sha256sum | cut -c1-12)"
else
  FERRETDB_BIN="$CACHE_DIR/ferretdb-${FERRETDB_VERSION#v}/ferretdb-stock"
fi

KAFKA_DIR="$RUN_DIR/kafka"
KAFKA_CONFIG="$KAFKA_DIR/server.properties"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_OUT="$KAFKA_DIR/kafka.out"
MONGO_DIR="$RUN_DIR/ferretdb"
MONGO_DATA="$MONGO_DIR/data"
MONGO_STATE="$MONGO_DIR/state"
MONGO_PID="$MONGO_DIR/ferretdb.pid"
MONGO_LOG="$MONGO_DIR/ferretdb.log"
PG_DIR="$RUN_DIR/postgres"
PG_DATA="$PG_DIR/data" # may be a symlink to a directory the postgres user can reach:
# PostgreSQL is always given the real path (realpath), which it can reach
PG_LOG="$PG_DIR/postgres.log"
PG_PID="$PG_DIR/postgres.pid"

log() { printf '[servers] %s\n' "$*" >&2; }
die() { printf '[servers] ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ helpers

# Unique substring of each server's command line: scopes process lookup to this
# run dir, so we never touch servers started for another checkout.
marker() {
  case $1 in
    kafka) printf '%s' "kafka.Kafka $KAFKA_CONFIG" ;;
    mongo) printf '%s' "--state-dir=$MONGO_STATE" ;;
    postgres) printf '%s' "-D $(realpath -m "$PG_DATA") " ;; # the postmaster only; its children exit with it
  esac
}
pidfile() { case $1 in kafka) echo "$KAFKA_PID" ;; mongo) echo "$MONGO_PID" ;; postgres) echo "$PG_PID" ;; esac; }
port() { case $1 in kafka) echo "$KAFKA_PORT" ;; mongo) echo "$MONGO_PORT" ;; postgres) echo "$POSTGRES_PORT" ;; esac; }
label() {
  case $1 in
    kafka) echo "Kafka $KAFKA_VERSION" ;;
    mongo) echo "FerretDB $FERRETDB_VERSION ($MONGO_BACKEND)" ;;
    postgres) echo "PostgreSQL" ;;
  esac
}
# the servers "mongo" stands for: FerretDB and, on PostgreSQL, its backend first
mongo_servers() { if [[ $MONGO_BACKEND == postgresql ]]; then echo postgres mongo; else echo mongo; fi; }

# pids of live processes whose command line contains the server's marker
find_pids() {
  local m p cmd
  m=$(marker "$1")
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    [[ $cmd == *"$m"* ]] && echo "$p"
  done
  return 0
}

is_running() { [[ -n $(find_pids "$1") ]]; }

probe() { "$PYTHON" "$PROBE" "$1" "$HOST" "$(port "$1")" 2>/dev/null; }

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

show_log_tail() {
  local f
  for f in "$@"; do
    if [[ -s $f ]]; then
      printf -- '----- last 40 lines of %s -----\n' "$f" >&2
      tail -n 40 "$f" >&2
      printf -- '----- end of %s -----\n' "$f" >&2
    fi
  done
}
show_logs() {
  case $1 in
    kafka) show_log_tail "$KAFKA_LOGS/server.log" "$KAFKA_OUT" ;;
    mongo) show_log_tail "$MONGO_LOG" ;;
    postgres) show_log_tail "$PG_DIR/initdb.log" "$PG_LOG" ;;
  esac
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }

with_cache_lock() { # run "$@" holding the cache lock (fd 8)
  mkdir -p "$CACHE_DIR"
  (
    flock 8
    "$@"
  ) 8>"$CACHE_DIR/.lock"
}

# ------------------------------------------------------------------ artifacts

pom_stamp() { { cat "$KAFKA_POM"; echo "$KAFKA_VERSION"; } | sha256sum | cut -d' ' -f1; }

kafka_libs_ok() {
  [[ -f $KAFKA_LIBS/.complete && $(cat "$KAFKA_LIBS/.complete") == "$(pom_stamp)" ]]
}

_fetch_kafka() {
  kafka_libs_ok && return 0
  need mvn "needed once to fetch the Kafka jars from Maven Central"
  log "fetching Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS (first time only)"
  local tmp="$KAFKA_LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! mvn -B -ntp -Dstyle.color=never -f "$KAFKA_POM" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$CACHE_DIR/mvn-kafka.log" 2>&1; then
    tail -n 40 "$CACHE_DIR/mvn-kafka.log" >&2
    rm -rf "$tmp"
    die "mvn failed to fetch Kafka $KAFKA_VERSION (full log: $CACHE_DIR/mvn-kafka.log)"
  fi
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
  pom_stamp >"$tmp/.complete"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
}
ensure_kafka() { kafka_libs_ok || with_cache_lock _fetch_kafka; }

ferretdb_ok() { [[ -x $FERRETDB_BIN ]]; }

_build_ferretdb() {
  ferretdb_ok && return 0
  need go "needed once to build FerretDB from its Go module"
  log "building FerretDB $FERRETDB_VERSION from its Go module into $FERRETDB_BIN (first time only, ~1-2 min)"
  local mod dir src
  local glog="$CACHE_DIR/go-ferretdb.log"
  if ! mod=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>"$glog"); then
    { printf '%s\n' "$mod"; tail -n 40 "$glog"; } >&2
    die "go mod download github.com/FerretDB/FerretDB@$FERRETDB_VERSION failed"
  fi
  dir=$(printf '%s' "$mod" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  [[ -d $dir ]] || die "FerretDB module dir not found: $dir"
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  src=$(mktemp -d "$(dirname "$FERRETDB_BIN")/src.XXXXXX")
  cp -R "$dir/." "$src/"
  chmod -R u+w "$src"
  # build/version/*.txt are generated from git in FerretDB's own build; without
  # version.txt the binary panics at startup ("Invalid build/version/version.txt").
  printf '%s\n' "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  printf 'halcyon-local\n' >"$src/build/version/package.txt"
  if [[ $FERRETDB_BIN == */ferretdb-serialized-* ]]; then
    cp "$FERRETDB_PATCH" "$src/internal/handler/"
    sed -i 's/^\th\.initCommands()$/\th.initCommands()\n\th.halcyonSerializeWrites()/' "$src/internal/handler/handler.go"
    grep -q 'halcyonSerializeWrites()' "$src/internal/handler/handler.go" \
      || die "could not apply ferretdb/halcyon_serialize_writes.go to FerretDB $FERRETDB_VERSION (h.initCommands() not found); set HALCYON_FERRETDB_SERIALIZE_WRITES=0 for a stock build"
    # Equality filters pushed down to SQL (see halcyon_pushdown.go): one call after the
    # stock _id-only pushdown in both Query and Explain.
    cp "$FERRETDB_PUSHDOWN" "$src/internal/backends/sqlite/"
    perl -0pi -e 's/(\t\t\targs = \[\]any\{string\(must\.NotFail\(sjson\.MarshalSingleValue\(v\)\)\)\}\n\t\t\}\n\t\}\n)/$1\tif hw, ha := halcyonWhereClause(params.Filter); hw != "" {\n\t\twhereClause, args = hw, ha\n\t}\n/g' \
      "$src/internal/backends/sqlite/collection.go"
    [[ $(grep -c 'halcyonWhereClause(params.Filter)' "$src/internal/backends/sqlite/collection.go") == 2 ]] \
      || die "could not apply ferretdb/halcyon_pushdown.go to FerretDB $FERRETDB_VERSION (the _id pushdown in Query/Explain changed); set HALCYON_FERRETDB_SERIALIZE_WRITES=0 for a stock build"
    # The same for PostgreSQL (halcyon_pushdown_postgresql.go): its WHERE clause replaces
    # the stock one where it applies, in Query and Explain.
    cp "$FERRETDB_PG_PUSHDOWN" "$src/internal/backends/postgresql/"
    sed -i 's/prepareWhereClause(&placeholder, params.Filter)/halcyonPrepareWhereClause(\&placeholder, params.Filter)/' \
      "$src/internal/backends/postgresql/collection.go"
    [[ $(grep -c 'halcyonPrepareWhereClause(&placeholder, params.Filter)' "$src/internal/backends/postgresql/collection.go") == 2 ]] \
      || die "could not apply ferretdb/halcyon_pushdown_postgresql.go to FerretDB $FERRETDB_VERSION (prepareWhereClause in Query/Explain changed); set HALCYON_FERRETDB_SERIALIZE_WRITES=0 for a stock build"
  fi
  if ! (cd "$src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
        go build -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb >>"$glog" 2>&1); then
    tail -n 40 "$glog" >&2
    rm -rf "$src" "$FERRETDB_BIN.tmp"
    die "go build of FerretDB failed (full log: $glog)"
  fi
  rm -rf "$src"
  "$FERRETDB_BIN.tmp" --version >/dev/null 2>&1 || die "built FerretDB binary does not run"
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
}
ensure_mongo() { ferretdb_ok || with_cache_lock _build_ferretdb; }

# PostgreSQL: Debian's package (any major version FerretDB supports, 12+).
pg_bindir() {
  local d
  if [[ -n ${HALCYON_POSTGRES_BIN:-} ]]; then echo "$HALCYON_POSTGRES_BIN"; return 0; fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -n $d && -x $d/postgres && -x $d/initdb ]]; then echo "$d"; return 0; fi
  d=$(command -v pg_ctl 2>/dev/null) || return 1
  d=$(dirname "$(realpath "$d")")
  [[ -x $d/postgres && -x $d/initdb ]] && echo "$d"
}

_install_postgres() {
  pg_bindir >/dev/null && return 0
  command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]] \
    || die "PostgreSQL not found (no /usr/lib/postgresql/*/bin); install Debian's postgresql package, set HALCYON_POSTGRES_BIN, or set HALCYON_MONGO_BACKEND=sqlite"
  log "installing Debian's postgresql with apt-get (first time only)"
  # Only the binaries are used: the package's own cluster (main, port 5432) is not
  # created, so it cannot take a port or compete for the machine.
  if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  fi
  local alog="$CACHE_DIR/apt-postgresql.log"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql; } >"$alog" 2>&1; then
    tail -n 40 "$alog" >&2
    die "apt-get install postgresql failed (full log: $alog)"
  fi
  pg_bindir >/dev/null || die "postgresql installed but no /usr/lib/postgresql/*/bin found"
}
ensure_postgres() { pg_bindir >/dev/null || with_cache_lock _install_postgres; }

# Fetch/build whatever is missing for the given servers; Maven (network bound)
# runs in the background while Go (CPU bound) builds.
ensure() {
  local want_k=0 want_m=0 s
  for s in "$@"; do [[ $s == kafka ]] && want_k=1; [[ $s == mongo ]] && want_m=1; done
  if ((want_k && want_m)) && ! kafka_libs_ok && ! ferretdb_ok; then
    mkdir -p "$CACHE_DIR"
    local mlog="$CACHE_DIR/kafka-fetch.log" mpid rc=0
    (_fetch_kafka) >"$mlog" 2>&1 &
    mpid=$!
    (_build_ferretdb) || rc=$?
    if ! wait "$mpid"; then
      cat "$mlog" >&2
      die "fetching Kafka jars failed"
    fi
    cat "$mlog" >&2
    ((rc == 0)) || die "building FerretDB failed"
    return 0
  fi
  ((want_k)) && ensure_kafka
  ((want_m)) && ensure_mongo
  for s in "$@"; do [[ $s == postgres ]] && ensure_postgres; done
  return 0
}

# ------------------------------------------------------------------ launch

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Kafka $KAFKA_VERSION needs Java 17+); set JAVA or JAVA_HOME"
  local v
  v=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [[ ${v%%.*} -ge 17 ]] 2>/dev/null || die "Kafka $KAFKA_VERSION needs Java 17+, $JAVA is version '$v'"
}

write_kafka_config() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  cat >"$KAFKA_CONFIG" <<EOF
# Generated by deploy/local/servers.sh on each start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT,PARTNER://$HOST:$KAFKA_PARTNER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,PARTNER://$HOST:$KAFKA_PARTNER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PARTNER:SASL_PLAINTEXT
# Partners authenticate with SCRAM on their own listener and are held to ACLs
# (docs/adr/0007). The loopback PLAINTEXT listener is the services' trusted zone:
# its principal (ANONYMOUS) is a super user, like the controller's.
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.partner.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=$KAFKA_DATA
num.partitions=$KAFKA_PARTITIONS
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
EOF
}

# JVM arguments shared by the storage formatter and the broker
kafka_jvm_args() {
  local heap
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  KAFKA_JVM_ARGS=("${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$KAFKA_LOG4J" "-Dkafka.logs.dir=$KAFKA_LOGS"
    -cp "$KAFKA_LIBS/*")
}

launch_kafka() {
  check_java
  write_kafka_config
  kafka_jvm_args
  # keep the previous run's log aside so a failure report shows only this run
  if [[ -f $KAFKA_LOGS/server.log ]]; then mv -f "$KAFKA_LOGS/server.log" "$KAFKA_LOGS/server.log.prev"; fi
  if [[ ! -f $KAFKA_DATA/meta.properties ]]; then
    local cid
    if [[ -s $KAFKA_DIR/cluster-id ]]; then cid=$(cat "$KAFKA_DIR/cluster-id")
    else cid=$("$PYTHON" "$PROBE" uuid); echo "$cid" >"$KAFKA_DIR/cluster-id"; fi
    log "formatting Kafka storage in $KAFKA_DATA (cluster id $cid)"
    if ! "$JAVA" "${KAFKA_JVM_ARGS[@]}" kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_CONFIG" --ignore-formatted \
        >"$KAFKA_DIR/format.log" 2>&1; then
      echo "FAILED: Kafka storage format" >&2
      show_log_tail "$KAFKA_DIR/format.log"
      exit 1
    fi
  fi
  : >"$KAFKA_OUT"
  # Every test run makes topics under its own prefix; a long-lived dev broker piles up
  # partitions until it runs out of file descriptors ("Too many open files"). Say so.
  local partitions
  partitions=$(find "$KAFKA_DATA" -maxdepth 1 -mindepth 1 -type d 2>/dev/null | wc -l)
  if (( partitions > $(ulimit -n) / 4 )); then
    log "WARNING: $partitions partitions in $KAFKA_DATA near the open-file limit" \
      "($(ulimit -n)); run '$0 wipe' when the broker stops with 'Too many open files'"
  fi
  (
    cd "$KAFKA_DIR"
    exec setsid "$JAVA" "${KAFKA_JVM_ARGS[@]}" kafka.Kafka "$KAFKA_CONFIG"
  ) 8>&- 9>&- </dev/null >>"$KAFKA_OUT" 2>&1 &
  echo $! >"$KAFKA_PID"
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the unprivileged
# "postgres" user (Debian's package creates it; created here if missing).
PG_OWNER=
as_pg() {
  if [[ -n $PG_OWNER ]]; then setpriv --reuid="$PG_OWNER" --regid="$PG_OWNER" --init-groups --reset-env -- "$@"
  else "$@"; fi
}

# The data directory: $PG_DIR/data, or, when the postgres user cannot reach the run
# dir (e.g. a checkout under /root, mode 700), a directory of its own under /var/tmp
# that $PG_DIR/data links to (wipe removes both).
prepare_pg_data() {
  mkdir -p "$PG_DIR"
  if [[ $(id -u) == 0 ]]; then
    PG_OWNER=postgres
    id -u postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres \
      || die "could not create the unprivileged user 'postgres' for PostgreSQL"
    if [[ ! -e $PG_DATA ]]; then
      chmod 755 "$PG_DIR"
      if as_pg test -x "$PG_DIR"; then
        mkdir -m 700 "$PG_DATA"
      else
        local alt
        alt="/var/tmp/halcyon-postgres-$(printf '%s' "$RUN_DIR" | sha256sum | cut -c1-12)"
        log "user postgres cannot reach $PG_DIR; keeping the cluster in $alt (linked from $PG_DATA)"
        rm -rf "$alt"
        mkdir -m 700 "$alt"
        ln -s "$alt" "$PG_DATA"
      fi
      chown postgres:postgres "$(realpath "$PG_DATA")"
    fi
  else
    mkdir -p -m 700 "$PG_DATA"
  fi
}

launch_postgres() {
  local bin
  bin=$(pg_bindir) || die "PostgreSQL binaries not found"
  prepare_pg_data
  if [[ ! -f $(realpath "$PG_DATA")/PG_VERSION ]]; then
    log "creating a PostgreSQL cluster in $PG_DATA ($("$bin/postgres" --version))"
    if ! as_pg "$bin/initdb" -D "$(realpath "$PG_DATA")" -U "$POSTGRES_USER" --auth=trust --encoding=UTF8 --locale=C --no-sync \
        >"$PG_DIR/initdb.log" 2>&1; then
      echo "FAILED: initdb" >&2
      show_log_tail "$PG_DIR/initdb.log"
      exit 1
    fi
  fi
  if [[ -f $PG_LOG ]]; then mv -f "$PG_LOG" "$PG_LOG.prev"; fi
  # Settings on the command line (not in the cluster's files) so a port change applies
  # on the next start. Loopback TCP only, no Unix socket (nothing to clean up in /run).
  # synchronous_commit=off: a commit does not wait for the WAL flush; a crash can lose
  # the last few hundred milliseconds of a developer's data but never corrupts it.
  (
    cd /
    local as=()
    [[ -z $PG_OWNER ]] || as=(setpriv --reuid="$PG_OWNER" --regid="$PG_OWNER" --init-groups --)
    exec setsid "${as[@]+"${as[@]}"}" "$bin/postgres" -D "$(realpath "$PG_DATA")" \
      -c listen_addresses="$HOST" -c port="$POSTGRES_PORT" -c unix_socket_directories= \
      -c max_connections=200 -c shared_buffers=128MB -c synchronous_commit=off \
      -c logging_collector=off -c log_min_messages=warning -c log_checkpoints=off
  ) 8>&- 9>&- </dev/null >>"$PG_LOG" 2>&1 &
  echo $! >"$PG_PID"
}

launch_mongo() {
  mkdir -p "$MONGO_DATA" "$MONGO_STATE"
  if [[ -f $MONGO_LOG ]]; then mv -f "$MONGO_LOG" "$MONGO_LOG.prev"; fi
  local backend=(--handler=sqlite "--sqlite-url=file:$MONGO_DATA/${HALCYON_FERRETDB_SQLITE_QUERY:+?$HALCYON_FERRETDB_SQLITE_QUERY}")
  if [[ $MONGO_BACKEND == postgresql ]]; then
    # pgx's default pool is max(4, CPUs) connections: too few for a platform's writers
    backend=(--handler=postgresql "--postgresql-url=postgres://$POSTGRES_USER@$HOST:$POSTGRES_PORT/postgres?pool_max_conns=${HALCYON_POSTGRES_POOL:-24}")
  fi
  (
    cd "$MONGO_DIR"
    export HALCYON_FERRETDB_WRITE_LOCK=$WRITE_LOCK
    exec setsid "$FERRETDB_BIN" \
      --listen-addr="$HOST:$MONGO_PORT" \
      "${backend[@]}" \
      --state-dir="$MONGO_STATE" \
      --debug-addr=- \
      --telemetry=disable \
      --log-level="$MONGO_LOG_LEVEL" \
      --log-format=text
  ) 8>&- 9>&- </dev/null >>"$MONGO_LOG" 2>&1 &
  echo $! >"$MONGO_PID"
}

launch() {
  local s=$1 p
  p=$(port "$s")
  if port_open "$p"; then
    die "$(label "$s"): port $HOST:$p is already in use by a process not started for $RUN_DIR (set HALCYON_$(tr '[:lower:]' '[:upper:]' <<<"$s")_PORT or stop it)"
  fi
  if [[ $s == kafka ]] && port_open "$KAFKA_PARTNER_PORT"; then
    die "Kafka: partner port $HOST:$KAFKA_PARTNER_PORT already in use (set HALCYON_KAFKA_PARTNER_PORT)"
  fi
  if [[ $s == kafka ]] && port_open "$KAFKA_CONTROLLER_PORT"; then
    die "Kafka: controller port $HOST:$KAFKA_CONTROLLER_PORT already in use (set HALCYON_KAFKA_CONTROLLER_PORT)"
  fi
  log "starting $(label "$s") on $HOST:$p"
  "launch_$s"
}

# ------------------------------------------------------------------ stop

# serialize start/stop/wipe on one run dir (fd 9; closed in the servers)
lock_run_dir() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/.lock"
  flock 9
}

stop_one() {
  local s=$1 pids p deadline
  pids=$( { cat "$(pidfile "$s")" 2>/dev/null || true; find_pids "$s"; } | sort -u)
  # keep only live pids that really are this server
  local live=() m
  m=$(marker "$s")
  for p in $pids; do
    [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" || true) == *"$m"* ]] && live+=("$p")
  done
  if ((${#live[@]} == 0)); then
    rm -f "$(pidfile "$s")"
    log "$(label "$s"): not running"
    return 0
  fi
  log "stopping $(label "$s") (pid ${live[*]})"
  # PostgreSQL: SIGINT is its fast shutdown (SIGTERM would wait for clients to leave)
  kill "-$([[ $s == postgres ]] && echo INT || echo TERM)" "${live[@]}" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while ((SECONDS < deadline)) && is_running "$s"; do sleep 0.2; done
  if is_running "$s"; then
    log "$(label "$s") did not exit within ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
    local left
    mapfile -t left < <(find_pids "$s")
    ((${#left[@]} == 0)) || kill -KILL "${left[@]}" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)) && is_running "$s"; do sleep 0.2; done
    is_running "$s" && die "$(label "$s") still running after SIGKILL: $(find_pids "$s")"
  fi
  rm -f "$(pidfile "$s")"
  log "$(label "$s"): stopped"
}

# ------------------------------------------------------------------ start

wait_ready() { # wait_ready SERVER: until its probe answers (or it exits, or the deadline)
  local deadline=$((SECONDS + START_TIMEOUT))
  until probe "$1"; do
    if ! is_running "$1"; then
      echo "FAILED: $(label "$1") exited during startup" >&2
      show_logs "$1"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "FAILED: $(label "$1") not ready on $HOST:$(port "$1") within ${START_TIMEOUT}s (HALCYON_START_TIMEOUT)" >&2
      "$PYTHON" "$PROBE" "$1" "$HOST" "$(port "$1")" || true
      show_logs "$1"
      stop_one "$1" || true
      exit 1
    fi
    sleep 0.3
  done
}

start() {
  local s todo=() wait_for=()
  lock_run_dir
  for s in "$@"; do
    if is_running "$s"; then
      if probe "$s"; then
        log "$(label "$s") already running and ready on $HOST:$(port "$s")"
      else
        wait_for+=("$s") # ours, still starting (or unhealthy): wait below
      fi
    else
      rm -f "$(pidfile "$s")"
      todo+=("$s")
    fi
  done
  if ((${#todo[@]})); then
    ensure "${todo[@]}"
    for s in "${todo[@]}"; do
      # FerretDB checks its backend's settings as it starts: PostgreSQL must serve first
      if [[ $s == mongo && $MONGO_BACKEND == postgresql ]]; then wait_ready postgres; fi
      launch "$s"
      wait_for+=("$s")
    done
  fi
  ((${#wait_for[@]})) || return 0

  local t0=$SECONDS deadline=$((SECONDS + START_TIMEOUT)) pending=("${wait_for[@]}") next failed=()
  while ((${#pending[@]})); do
    next=()
    for s in "${pending[@]}"; do
      if probe "$s"; then
        log "$(label "$s") ready on $HOST:$(port "$s") after $((SECONDS - t0))s"
      elif ! is_running "$s"; then
        echo "FAILED: $(label "$s") exited during startup" >&2
        failed+=("$s")
      else
        next+=("$s")
      fi
    done
    pending=("${next[@]+"${next[@]}"}")
    ((${#pending[@]})) || break
    if ((SECONDS >= deadline)); then
      for s in "${pending[@]}"; do
        echo "FAILED: $(label "$s") not ready on $HOST:$(port "$s") within ${START_TIMEOUT}s (HALCYON_START_TIMEOUT)" >&2
        "$PYTHON" "$PROBE" "$s" "$HOST" "$(port "$s")" || true
        failed+=("$s")
      done
      break
    fi
    sleep 0.5
  done
  if ((${#failed[@]})); then
    for s in "${failed[@]}"; do
      show_logs "$s"
      stop_one "$s" || true
    done
    echo "FAILED to start: ${failed[*]}" >&2
    exit 1
  fi
}

# ------------------------------------------------------------------ status/env

status() {
  local s rc=0 p
  for s in kafka $(mongo_servers); do
    p=$(find_pids "$s" | tr '\n' ' ')
    if [[ -n $p ]]; then
      if probe "$s"; then
        echo "$(label "$s"): running, ready (pid ${p% }, $HOST:$(port "$s"))"
      else
        echo "$(label "$s"): running, NOT ready (pid ${p% }, $HOST:$(port "$s"))"; rc=3
      fi
    else
      echo "$(label "$s"): not running"; rc=3
    fi
  done
  return $rc
}

print_env() {
  echo "export HALCYON_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT"
  echo "export HALCYON_KAFKA_PARTNER_BOOTSTRAP=$HOST:$KAFKA_PARTNER_PORT"
  echo "export HALCYON_MONGO_URL=mongodb://$HOST:$MONGO_PORT/"
}

usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

stop_mongo() { # FerretDB, then its PostgreSQL (also one left from a previous backend choice)
  stop_one mongo
  if [[ $MONGO_BACKEND == postgresql ]] || is_running postgres; then stop_one postgres; fi
}

wipe() {
  lock_run_dir
  stop_one kafka
  stop_mongo
  if [[ -L $PG_DATA ]]; then rm -rf "$(realpath -m "$PG_DATA")"; fi
  rm -rf "$KAFKA_DIR" "$MONGO_DIR" "$PG_DIR" "$RUN_DIR/.lock"
  log "wiped $KAFKA_DIR, $MONGO_DIR and $PG_DIR"
}

cmd=${1:-}
# shellcheck disable=SC2046 # mongo_servers is a word list by design
case $cmd in
  start) start kafka $(mongo_servers); print_env | sed 's/^/[servers] /' >&2 ;;
  start-kafka) start kafka ;;
  start-mongo) start $(mongo_servers) ;;
  stop) lock_run_dir; stop_one kafka; stop_mongo ;;
  stop-kafka) lock_run_dir; stop_one kafka ;;
  stop-mongo) lock_run_dir; stop_mongo ;;
  status) status ;;
  wipe) wipe ;;
  env) print_env ;;
  *) usage ;;
esac
