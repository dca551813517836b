#!/usr/bin/env bash
# Local backing services for Tessera, without Docker:
#   PostgreSQL 15, Redis, RabbitMQ (Debian packages), Apache Kafka 3.9 in KRaft mode (jars from
#   Maven Central) and moto (AWS emulator: Cognito, Secrets Manager) -- all on 127.0.0.1 only.
#
# Usage: scripts/services.sh up|down|status [postgres|redis|rabbitmq|kafka|moto ...]
#   up      install what is missing (HAProxy too, for the load-balancer test), start what is not
#           answering, wait, apply scripts/sql/init.sql, bootstrap Cognito (.env.local). Idempotent.
#   down    stop the services. Idempotent.
#   status  one line per service; exit 0 when all named services answer, 1 otherwise.
#
# TLS: a local CA in ~/.cache/tessera/tls/ (ca.pem; TESSERA_TLS_DIR); PostgreSQL takes TLS on 5432, Redis on 6380 (ACL user
# tessera), RabbitMQ on 5671, Kafka SASL_SSL on 9094 (SCRAM/PLAIN user tessera). Made for a fresh Debian 12 machine as root without systemd. Runtime state
# lives under .cache/run/ (logs in .cache/run/logs/<service>.log); the Kafka jars under .cache/kafka/.
# Environment: SERVICES_TIMEOUT (seconds to wait for each service, default 60).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
RUN="$CACHE/run"
LOGS="$RUN/logs"
KAFKA_DIR="$CACHE/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_POM="$ROOT/scripts/kafka/pom.xml"
INIT_SQL="$ROOT/scripts/sql/init.sql"
ENV_FILE="$ROOT/.env.local"
# The local CA and the services' certificate (ensure_tls): one per machine, like the services
# themselves, so every checkout's tests trust the certificate the running services present.
TLS_DIR="${TESSERA_TLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/tls}"
TIMEOUT="${SERVICES_TIMEOUT:-60}"

ALL_SERVICES=(postgres redis rabbitmq kafka moto)

PG_PORT=5432
REDIS_PORT=6379
REDIS_TLS_PORT=6380
REDIS_TLS_USER=tessera                  # an ACL user for the TLS tests (local only)
REDIS_TLS_PASSWORD=tessera-redis-local
RABBIT_PORT=5672
RABBIT_TLS_PORT=5671
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
KAFKA_TLS_PORT=9094                     # SASL_SSL (SCRAM-SHA-512/256, PLAIN), user tessera
KAFKA_SASL_PASSWORD=tessera-kafka-local
MOTO_PORT=4566
AWS_REGION_DEFAULT=us-east-1

# RabbitMQ: AMQP, Erlang distribution and epmd on loopback only
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$RABBIT_PORT
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

# ------------------------------------------------------------------------------------------------
# helpers

say() { printf '%s\n' "$*"; }
err() { printf 'services: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

# "line <service> <state> <address...>"
line() { printf '%-9s %-16s %s\n' "$1" "$2" "${*:3}"; }

# port_open <port>: something accepts TCP connections on 127.0.0.1:<port>
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# running <pid>: the process exists and is not a zombie (PID 1 here may reap exited daemons late)
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# pid_alive <pidfile> <word expected in the command line>
pid_alive() {
  local pidfile=$1 word=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  running "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$word"
}

# stop_pidfile <pidfile> <word> <seconds>: TERM, wait, then KILL
stop_pidfile() {
  local pidfile=$1 word=$2 secs=$3 pid i
  if pid_alive "$pidfile" "$word"; then
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 5; i++)); do
      running "$pid" || break
      sleep 0.2
    done
    if running "$pid"; then
      err "$word (pid $pid) did not exit after ${secs}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$pidfile"
}

# run_detached <pidfile> <log> <cmd...>: start cmd in its own session, in the background; the
# process itself writes its pid (exec keeps it), so the pid file names the real server.
run_detached() {
  local pidfile=$1 log=$2
  shift 2
  rm -f "$pidfile"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 50; i++)); do [[ -s $pidfile ]] && return 0; sleep 0.1; done
  return 1
}

python_ok() { have python3; }

pg_version() {
  if [[ -n ${PG_VERSION:-} ]]; then echo "$PG_VERSION"; return; fi
  local v
  v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
  echo "${v:-15}"
}

moto_bin() {
  if have moto_server; then command -v moto_server; return 0; fi
  local c
  for c in "$HOME/.pyenv/shims/moto_server" /usr/local/bin/moto_server; do
    [[ -x $c ]] && { echo "$c"; return 0; }
  done
  return 1
}

# ------------------------------------------------------------------------------------------------
# installation

APT_UPDATED=0
apt_install() {
  local opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  if [[ $APT_UPDATED == 0 ]]; then
    say "services: apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" update -qq >"$LOGS/apt.log" 2>&1 \
      || { tail -n 30 "$LOGS/apt.log" >&2; return 1; }
    APT_UPDATED=1
  fi
  say "services: apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y -qq --no-install-recommends "$@" \
    >>"$LOGS/apt.log" 2>&1 || { tail -n 30 "$LOGS/apt.log" >&2; return 1; }
}

ensure_installed() {
  local s pkgs=()
  for s in "$@"; do
    case $s in
      postgres) { have pg_ctlcluster && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; } || pkgs+=(postgresql) ;;
      redis) { have redis-server && have redis-cli; } || pkgs+=(redis-server) ;;
      rabbitmq) [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] && have rabbitmqctl || pkgs+=(rabbitmq-server) ;;
      kafka)
        have java || pkgs+=(openjdk-17-jre-headless)
        have mvn || pkgs+=(maven)
        ;;
      moto) have python3 || pkgs+=(python3 python3-pip) ;;
    esac
  done
  # Not a service: the balancer test/e2e/load-balancer.e2e-spec.ts runs in front of two
  # instances (with deploy/haproxy/haproxy.cfg, which scripts/check-deploy.sh also checks).
  [[ -x /usr/sbin/haproxy ]] || have haproxy || pkgs+=(haproxy)
  if ((${#pkgs[@]})); then apt_install "${pkgs[@]}"; fi

  for s in "$@"; do
    case $s in
      kafka) ensure_kafka_libs ;;
      moto) ensure_moto ;;
    esac
  done
}

ensure_kafka_libs() {
  local stamp="$KAFKA_DIR/pom.sha256" want
  want=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
  if compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null && [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    return 0
  fi
  say "services: fetching the Kafka broker jars from Maven Central into ${KAFKA_LIBS#"$ROOT/"}"
  mkdir -p "$KAFKA_DIR"
  local tmp="$KAFKA_DIR/libs.tmp.$$"
  rm -rf "$tmp"
  if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$LOGS/kafka-fetch.log" 2>&1; then
    err "mvn failed to fetch the Kafka jars:"
    tail -n 30 "$LOGS/kafka-fetch.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  echo "$want" >"$stamp"
}

ensure_moto() {
  if ! moto_bin >/dev/null; then
    say "services: pip install 'moto[server]'"
    python3 -m pip install -q 'moto[server]' >"$LOGS/pip.log" 2>&1 || { tail -n 30 "$LOGS/pip.log" >&2; return 1; }
    have pyenv && pyenv rehash || true
    hash -r
    moto_bin >/dev/null || { err "moto_server not found after pip install"; return 1; }
  fi
  if ! python3 -c 'import boto3' 2>/dev/null; then
    say "services: pip install boto3"
    python3 -m pip install -q boto3 >>"$LOGS/pip.log" 2>&1 || { tail -n 30 "$LOGS/pip.log" >&2; return 1; }
  fi
}

# ------------------------------------------------------------------------------------------------
# A local CA and one server certificate (localhost, 127.0.0.1) for every service's TLS listener,
# made once per machine in $TLS_DIR. A second CA that signed nothing lets tests present a wrong one.

ensure_tls() {
  [[ -s $TLS_DIR/ca.pem && -s $TLS_DIR/server.pem && -s $TLS_DIR/server-key.pem && -s $TLS_DIR/other-ca.pem ]] && return 0
  have openssl || apt_install openssl
  mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Tessera local CA" \
      -keyout ca-key.pem -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
      'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Tessera other CA" \
      -keyout other-ca-key.pem -out other-ca.pem
    chmod 644 ca.pem server.pem other-ca.pem
  ) >"$LOGS/tls.log" 2>&1 || {
    err "making the local CA failed:"
    tail -n 20 "$LOGS/tls.log" >&2
    return 1
  }
}

# ------------------------------------------------------------------------------------------------
# PostgreSQL (Debian cluster <version>/main, port 5432, listen_addresses = localhost by default)

postgres_addr() { echo "postgres://127.0.0.1:$PG_PORT  (tessera, tessera_test, tessera_tenants, tessera_tenants_test)"; }
postgres_log() { echo "/var/log/postgresql/postgresql-$(pg_version)-main.log"; }
postgres_ready() { have pg_isready && pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }
postgres_alive() { return 0; }
postgres_launch() {
  local v
  v=$(pg_version)
  if [[ ! -d /etc/postgresql/$v/main ]]; then
    pg_createcluster "$v" main >>"$LOGS/postgres-init.log" 2>&1 || return 1
  fi
  ln -sfn "$(postgres_log)" "$LOGS/postgres.log"
  pg_ctlcluster --skip-systemctl-redirect "$v" main start >>"$LOGS/postgres-init.log" 2>&1
}
postgres_after() {
  postgres_tls || return 1
  # init.sql is idempotent: applied on every `up`
  (cd / && su postgres -s /bin/sh -c "psql -X -q -v ON_ERROR_STOP=1 -d postgres") \
    <"$INIT_SQL" >"$LOGS/postgres-init.log" 2>&1 || {
    err "scripts/sql/init.sql failed:"
    tail -n 30 "$LOGS/postgres-init.log" >&2
    return 1
  }
}
# TLS on the same port (a client asks for it or not) with the local CA's certificate: copied
# where the server may read its key, turned on by a reload (no restart, no dropped connection).
postgres_tls() {
  ensure_tls || return 1
  local dir=/var/lib/postgresql/tessera-tls
  mkdir -p "$dir"
  cp "$TLS_DIR/server.pem" "$dir/server.pem"
  cp "$TLS_DIR/server-key.pem" "$dir/server-key.pem"
  chown -R postgres:postgres "$dir"
  chmod 600 "$dir/server-key.pem"
  (cd / && su postgres -s /bin/sh -c "psql -X -q -v ON_ERROR_STOP=1 -d postgres") >>"$LOGS/postgres-init.log" 2>&1 <<SQL || {
alter system set ssl = on;
alter system set ssl_cert_file = '$dir/server.pem';
alter system set ssl_key_file = '$dir/server-key.pem';
select pg_reload_conf();
SQL
    err "turning on PostgreSQL TLS failed:"
    tail -n 20 "$LOGS/postgres-init.log" >&2
    return 1
  }
}
postgres_stop() {
  local v
  v=$(pg_version)
  if pg_ctlcluster --skip-systemctl-redirect "$v" main status >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$v" main stop -m fast
  fi
}

# ------------------------------------------------------------------------------------------------
# Redis

redis_addr() { echo "redis://127.0.0.1:$REDIS_PORT  (TLS rediss://$REDIS_TLS_USER:…@localhost:$REDIS_TLS_PORT)"; }
redis_log() { echo "$LOGS/redis.log"; }
redis_ready() { [[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }
redis_alive() { pgrep -f "^redis-server 127.0.0.1:$REDIS_PORT" >/dev/null; }
redis_launch() {
  mkdir -p "$RUN/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$RUN/redis" --logfile "$LOGS/redis.log" --pidfile "$RUN/redis.pid" >>"$LOGS/redis.log" 2>&1
}
# TLS beside the plain port, and an ACL user for password logins; applied with CONFIG SET and
# ACL SETUSER on every `up` (a running server takes them without a restart).
redis_after() {
  ensure_tls || return 1
  {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" CONFIG SET tls-cert-file "$TLS_DIR/server.pem" \
      tls-key-file "$TLS_DIR/server-key.pem" tls-ca-cert-file "$TLS_DIR/ca.pem" tls-auth-clients no &&
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" CONFIG SET tls-port "$REDIS_TLS_PORT" &&
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ACL SETUSER "$REDIS_TLS_USER" reset on \
        ">$REDIS_TLS_PASSWORD" '~*' '&*' '+@all'
  } >>"$LOGS/redis.log" 2>&1 || {
    err "turning on Redis TLS failed (see $LOGS/redis.log)"
    return 1
  }
}
redis_stop() {
  if redis_ready; then
    timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  stop_pidfile "$RUN/redis.pid" redis-server 10
}

# ------------------------------------------------------------------------------------------------
# RabbitMQ (Debian package; runs as the rabbitmq user, state in /var/lib/rabbitmq)

rabbitmq_addr() { echo "amqp://guest:guest@127.0.0.1:$RABBIT_PORT  (TLS amqps://localhost:$RABBIT_TLS_PORT)"; }
rabbitmq_log() { echo "$LOGS/rabbitmq.log"; }
rabbitmq_ready() {
  # an AMQP 0-9-1 protocol header must be answered with a Connection.Start method frame
  if python_ok; then
    timeout 5 python3 - "$RABBIT_PORT" 2>/dev/null <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(b"AMQP\x00\x00\x09\x01")
data = s.recv(7)
sys.exit(0 if len(data) == 7 and data[0] == 1 else 1)
PY
  else
    port_open "$RABBIT_PORT"
  fi
}
rabbitmq_alive() { return 0; }
rabbitmq_launch() {
  local node_log
  node_log="/var/log/rabbitmq/rabbit@$(hostname -s).log"
  ln -sfn "$node_log" "$LOGS/rabbitmq.log"
  # Every quorum queue holds files open: the default 1,024 descriptors run out at a few hundred
  # tenants' queues (the broker then stops accepting connections). rabbitmq-server starts the
  # node through su, whose pam_limits reads limits.d.
  local limits=/etc/security/limits.d/rabbitmq-tessera.conf
  if [[ ! -f "$limits" ]]; then
    printf 'rabbitmq soft nofile 16384\nrabbitmq hard nofile 16384\n' >"$limits"
  fi
  rabbitmq-server -detached >"$LOGS/rabbitmq-launch.log" 2>&1
}
rabbitmq_after() {
  # Queue limits are RabbitMQ policies, set by the app through the management API (the plugin
  # starts on a running node, no restart). A delay queue's dead-lettering (at-least-once) holds
  # a retry the full work queue refused and offers it again after this timeout (default 180 s):
  # 5 s here, for the node now and (advanced.config) after a restart.
  rabbitmq-plugins -q enable rabbitmq_management >/dev/null 2>&1 || return 1
  local advanced=/etc/rabbitmq/advanced.config
  if [[ ! -f "$advanced" ]]; then
    printf '[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 5000}]}].\n' >"$advanced"
  fi
  rabbitmqctl -q eval 'application:set_env(rabbit, dead_letter_worker_publisher_confirm_timeout, 5000).' >/dev/null
  rabbitmq_tls
}
# An AMQPS listener (5671) beside the plain one, with the local CA's certificate: in
# rabbitmq.conf for the next start, and opened now on a running node (no restart).
rabbitmq_tls() {
  ensure_tls || return 1
  local dir=/etc/rabbitmq/tls conf=/etc/rabbitmq/rabbitmq.conf
  mkdir -p "$dir"
  cp "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" "$TLS_DIR/server-key.pem" "$dir/"
  chown -R rabbitmq:rabbitmq "$dir" 2>/dev/null || true
  chmod 600 "$dir/server-key.pem"
  if ! grep -q '^listeners.ssl.default' "$conf" 2>/dev/null; then
    {
      echo "listeners.ssl.default = 127.0.0.1:$RABBIT_TLS_PORT"
      echo "ssl_options.cacertfile = $dir/ca.pem"
      echo "ssl_options.certfile = $dir/server.pem"
      echo "ssl_options.keyfile = $dir/server-key.pem"
      echo "ssl_options.verify = verify_none"
      echo "ssl_options.fail_if_no_peer_cert = false"
    } >>"$conf"
  fi
  port_open "$RABBIT_TLS_PORT" && return 0
  rabbitmqctl -q eval "rabbit_networking:start_ssl_listener({\"127.0.0.1\", $RABBIT_TLS_PORT}, [{cacertfile, \"$dir/ca.pem\"}, {certfile, \"$dir/server.pem\"}, {keyfile, \"$dir/server-key.pem\"}, {verify, verify_none}, {fail_if_no_peer_cert, false}], 1)." >/dev/null || {
    err "opening RabbitMQ's TLS listener failed"
    return 1
  }
}
rabbitmq_stop() {
  if rabbitmq_ready || pgrep -u rabbitmq -f 'beam.*rabbit' >/dev/null 2>&1; then
    # shutdown also waits for the Erlang VM to exit (stop does not)
    timeout 60 rabbitmqctl -q shutdown >/dev/null 2>&1 || timeout 60 rabbitmqctl -q stop >/dev/null 2>&1 || true
  fi
}

# ------------------------------------------------------------------------------------------------
# Kafka 3.9, KRaft single node: broker 127.0.0.1:9092, controller 127.0.0.1:9093

kafka_addr() { echo "127.0.0.1:$KAFKA_PORT  (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT; SASL_SSL localhost:$KAFKA_TLS_PORT)"; }
kafka_log() { echo "$LOGS/kafka.log"; }
kafka_java() {
  java -Xmx256m -Dlog4j.configuration="file:$ROOT/scripts/kafka/log4j.properties" -cp "$KAFKA_LIBS/*" "$@"
}
kafka_ready() {
  port_open "$KAFKA_PORT" || return 1
  if python_ok; then
    # Metadata v0 request (all topics); ready when the broker answers and lists itself
    timeout 5 python3 - "$KAFKA_PORT" 2>/dev/null <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
client = b"tessera-services"
body = struct.pack(">hhih", 3, 0, 42, len(client)) + client + struct.pack(">i", 0)
s.sendall(struct.pack(">i", len(body)) + body)
def read(n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            sys.exit(1)
        buf += chunk
    return buf
size = struct.unpack(">i", read(4))[0]
resp = read(size)
correlation, brokers = struct.unpack(">ii", resp[:8])
sys.exit(0 if correlation == 42 and brokers >= 1 else 1)
PY
  else
    timeout 30 java -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list >/dev/null 2>&1
  fi
}
kafka_alive() { pid_alive "$RUN/kafka.pid" kafka.Kafka; }
kafka_launch() {
  local data="$RUN/kafka/data" props="$RUN/kafka/server.properties" log="$LOGS/kafka.log" uuid
  mkdir -p "$data"
  ensure_tls || return 1
  cat "$TLS_DIR/server-key.pem" "$TLS_DIR/server.pem" >"$TLS_DIR/kafka-keystore.pem"
  chmod 600 "$TLS_DIR/kafka-keystore.pem"
  sed -e "s#@LOG_DIR@#$data#" -e "s#@TLS_DIR@#$TLS_DIR#" -e "s#@SASL_PASSWORD@#$KAFKA_SASL_PASSWORD#" \
    "$ROOT/scripts/kafka/server.properties.template" >"$props"
  : >"$log"
  if [[ ! -f $data/meta.properties ]]; then
    uuid=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$log" | grep -E '^[A-Za-z0-9_-]{22}$' | tail -n 1)
    [[ -n $uuid ]] || { err "kafka: StorageTool random-uuid failed"; return 1; }
    kafka_java kafka.tools.StorageTool format -t "$uuid" -c "$props" --ignore-formatted \
      --add-scram "SCRAM-SHA-512=[name=tessera,password=$KAFKA_SASL_PASSWORD]" \
      --add-scram "SCRAM-SHA-256=[name=tessera,password=$KAFKA_SASL_PASSWORD]" >>"$log" 2>&1 || return 1
    touch "$data/tessera-scram.done"
  fi
  run_detached "$RUN/kafka.pid" "$log" \
    java -Xmx512m -Xms512m -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ROOT/scripts/kafka/log4j.properties" -Dkafka.logs.dir="$LOGS" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$props"
}
# SCRAM credentials live in the cluster metadata: a data directory formatted here has them from
# the start (--add-scram). For one formatted before, or a broker another checkout started (its
# data directory is not ours), they are written through the plaintext listener; each JVM start
# of ConfigCommand costs seconds, so our own directory remembers it with a marker.
kafka_after() {
  local marker="$RUN/kafka/data/tessera-scram.done" m
  if kafka_alive && [[ -f $marker ]]; then return 0; fi
  for m in SCRAM-SHA-512 SCRAM-SHA-256; do
    kafka_java kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
      --add-config "$m=[password=$KAFKA_SASL_PASSWORD]" --entity-type users --entity-name tessera \
      >>"$LOGS/kafka-scram.log" 2>&1 || {
      err "kafka: creating the SCRAM user failed (see $LOGS/kafka-scram.log)"
      return 1
    }
  done
  if kafka_alive; then touch "$marker"; fi
}
kafka_stop() { stop_pidfile "$RUN/kafka.pid" kafka.Kafka 60; }

# ------------------------------------------------------------------------------------------------
# moto (AWS emulator) on 127.0.0.1:4566, reproducible Cognito ids; bootstrap writes .env.local

moto_addr() {
  local extra=""
  if [[ -f $ENV_FILE ]]; then
    extra=$(grep -E '^COGNITO_(USER_POOL|CLIENT)_ID=' "$ENV_FILE" | tr '\n' ' ' || true)
  fi
  echo "http://127.0.0.1:$MOTO_PORT${extra:+  ($extra)}" | sed 's/ )$/)/'
}
moto_log() { echo "$LOGS/moto.log"; }
moto_ready() {
  if have curl; then
    curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$MOTO_PORT/moto-api/"
  elif python_ok; then
    timeout 5 python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/', timeout=3)" 2>/dev/null
  else
    port_open "$MOTO_PORT"
  fi
}
moto_alive() { pid_alive "$RUN/moto.pid" moto_server; }
moto_launch() {
  local bin
  bin=$(moto_bin) || return 1
  : >"$LOGS/moto.log"
  MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY=HASH MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY=HASH \
    run_detached "$RUN/moto.pid" "$LOGS/moto.log" "$bin" -H 127.0.0.1 -p "$MOTO_PORT"
}
moto_after() {
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    timeout 60 python3 "$ROOT/scripts/aws-bootstrap.py" --endpoint "http://127.0.0.1:$MOTO_PORT" \
    --region "$AWS_REGION_DEFAULT" --env-file "$ENV_FILE" >"$LOGS/aws-bootstrap.log" 2>&1 || {
    err "AWS bootstrap (scripts/aws-bootstrap.py) failed:"
    tail -n 30 "$LOGS/aws-bootstrap.log" >&2
    return 1
  }
}
moto_stop() { stop_pidfile "$RUN/moto.pid" moto_server 15; }

# ------------------------------------------------------------------------------------------------
# commands

wait_ready() {
  local s=$1 deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    "${s}_ready" && return 0
    if ! "${s}_alive"; then
      sleep 0.5
      "${s}_ready" && return 0
      err "$s: process exited during start-up"
      return 1
    fi
    sleep 0.5
  done
  err "$s: not answering after ${TIMEOUT}s"
  return 1
}

cmd_up() {
  local services=("$@") s failed=0
  local -A state=()
  mkdir -p "$LOGS"
  ensure_installed "${services[@]}"

  # launch everything that is not answering (slowest first), then wait for each
  for s in kafka rabbitmq moto redis postgres; do
    [[ " ${services[*]} " == *" $s "* ]] || continue
    if "${s}_ready"; then
      state[$s]="up"
    elif "${s}_launch"; then
      state[$s]="starting"
    else
      state[$s]="failed"
    fi
  done
  for s in "${services[@]}"; do
    if [[ ${state[$s]} == starting ]]; then
      if wait_ready "$s"; then state[$s]="up (started)"; else state[$s]="failed"; fi
    fi
  done
  for s in "${services[@]}"; do
    if [[ ${state[$s]} == up* ]] && ! "${s}_after"; then state[$s]="failed"; fi
  done

  for s in "${services[@]}"; do
    if [[ ${state[$s]} == failed ]]; then
      failed=1
      line "$s" "FAILED" "see $("${s}_log")"
      if [[ -e $("${s}_log") ]]; then
        say "---- last 30 lines of $("${s}_log") ----"
        tail -n 30 "$("${s}_log")" || true
        say "----"
      fi
    else
      line "$s" "${state[$s]}" "$("${s}_addr")"
    fi
  done
  return $failed
}

cmd_down() {
  local services=("$@") s i
  mkdir -p "$LOGS"
  for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do
    s=${ALL_SERVICES[i]}
    [[ " ${services[*]} " == *" $s "* ]] || continue
    case $s in
      postgres) have pg_ctlcluster || { line "$s" down "(not installed)"; continue; } ;;
      redis) have redis-cli || { line "$s" down "(not installed)"; continue; } ;;
      rabbitmq) have rabbitmqctl || { line "$s" down "(not installed)"; continue; } ;;
    esac
    "${s}_stop" || err "$s: stop reported an error"
    if "${s}_ready"; then line "$s" "STILL UP" "$("${s}_addr")"; else line "$s" down ""; fi
  done
}

cmd_status() {
  local services=("$@") s rc=0
  for s in "${services[@]}"; do
    if "${s}_ready" 2>/dev/null; then
      line "$s" up "$("${s}_addr")"
    else
      line "$s" down "$("${s}_addr" | cut -d' ' -f1)"
      rc=1
    fi
  done
  return $rc
}

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd=$1 s
  shift
  local services=()
  if [[ $# -eq 0 ]]; then
    services=("${ALL_SERVICES[@]}")
  else
    for s in "$@"; do
      [[ " ${ALL_SERVICES[*]} " == *" $s "* ]] || { err "unknown service '$s' (known: ${ALL_SERVICES[*]})"; exit 2; }
    done
    # keep the canonical order
    for s in "${ALL_SERVICES[@]}"; do
      [[ " $* " == *" $s "* ]] && services+=("$s")
    done
  fi
  case $cmd in
    up) cmd_up "${services[@]}" ;;
    down) cmd_down "${services[@]}" ;;
    status) cmd_status "${services[@]}" ;;
    *) usage ;;
  esac
}

main "$@"
