#!/usr/bin/env bash
# docs/scale.md, "Try it on one machine": Berth as several instances deploy it, on one machine and
# in one directory. `start DIR` starts a throwaway PostgreSQL 15 cluster, versitygw (an S3 gateway)
# with a bucket, three `berth serve` with the same settings and haproxy in front of them; `stop DIR`
# stops them all (DIR stays, with every log). Ports: SCALE_DEMO_PORT (default 5000) for haproxy,
# the next three for Berth, then versitygw and PostgreSQL.
# Needs scripts/install-tools.sh (versitygw in .tools/bin; postgresql and haproxy from apt) and a
# built clone (`npm ci`). test/e2e/scale-recipe.test.ts runs the doc's commands, this included.
set -Eeuo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command="$1"
mkdir -p "$2"
demo="$(cd "$2" && pwd)"
port="${SCALE_DEMO_PORT:-5000}"
berth_ports=($((port + 1)) $((port + 2)) $((port + 3)))
s3_port=$((port + 4)) pg_port=$((port + 5))
pg_bin="${BERTH_PG_BIN:-/usr/lib/postgresql/15/bin}"
export PATH="$repo/.tools/bin:$PATH:/usr/sbin"  # haproxy, runuser: not on a user's PATH on Debian

# initdb and postgres refuse to run as root: as root they run as the postgres user.
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop_pid() { # stop_pid NAME: SIGTERM to the process in NAME.pid, then wait (10 s) for it to go
  local file="$demo/$1.pid" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop() {
  stop_pid haproxy
  for i in 1 2 3; do stop_pid "berth$i"; done
  stop_pid versitygw
  if [ -f "$demo/pg/data/postmaster.pid" ]; then as_postgres "$pg_bin/pg_ctl" -D "$demo/pg/data" -m fast -w stop >/dev/null; fi
}

wait_for() { # wait_for NAME URL: until URL answers (2 min: a loaded machine starts Berth slowly), else NAME's log and fail
  for _ in $(seq 1200); do
    if curl -s -o /dev/null "$2"; then return 0; fi
    kill -0 "$(cat "$demo/$1.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "scale-demo: $1 did not start; $demo/$1.log says:" >&2
  tail -n 20 "$demo/$1.log" >&2
  return 1
}

start() {
  for p in "$port" "${berth_ports[@]}" "$s3_port" "$pg_port"; do
    if (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "scale-demo: port $p is taken (set SCALE_DEMO_PORT)" >&2; exit 1; fi
  done
  trap 'echo "scale-demo: start failed; logs in $demo" >&2; stop' ERR

  # PostgreSQL 15: a cluster of its own, on 127.0.0.1 only; Berth creates its schema on first start.
  mkdir -p "$demo/pg"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$demo/pg" && chmod o+x "$demo"
    if ! runuser -u postgres -- test -x "$demo/pg"; then
      echo "scale-demo: as root, PostgreSQL runs as the postgres user, who cannot reach $demo (a DIR under /tmp can)" >&2
      return 1
    fi
  fi
  as_postgres "$pg_bin/initdb" -D "$demo/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$demo/pg.log"
  as_postgres "$pg_bin/pg_ctl" -D "$demo/pg/data" -l "$demo/pg/server.log" -w \
    -o "-k $demo/pg -p $pg_port -c listen_addresses=127.0.0.1" start >>"$demo/pg.log"
  as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres berth

  # versitygw: S3 over a directory, and the bucket Berth is told to use (Berth does not create it).
  mkdir -p "$demo/s3"
  versitygw --access demo --secret demo-secret --port "127.0.0.1:$s3_port" posix "$demo/s3" >"$demo/versitygw.log" 2>&1 &
  echo $! >"$demo/versitygw.pid"
  wait_for versitygw "http://127.0.0.1:$s3_port/"
  curl -sSf -X PUT -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:us-east-1:s3" --user demo:demo-secret "http://127.0.0.1:$s3_port/berth"

  # The settings every instance shares (`. berth.env` gives a shell them too: `bin/berth gc`).
  cat >"$demo/berth.env" <<EOF
export BERTH_METADATA_DRIVER=postgres
export BERTH_METADATA_POSTGRES_URL=postgres://postgres@127.0.0.1:$pg_port/berth
export BERTH_STORAGE_DRIVER=s3 BERTH_STORAGE_S3_BUCKET=berth BERTH_STORAGE_S3_REGION=us-east-1
export BERTH_STORAGE_S3_ENDPOINT=http://127.0.0.1:$s3_port BERTH_STORAGE_S3_FORCE_PATH_STYLE=true
export BERTH_STORAGE_S3_ACCESS_KEY_ID=demo BERTH_STORAGE_S3_SECRET_ACCESS_KEY=demo-secret
export BERTH_AUTH_ADMIN_PASSWORD=$(openssl rand -hex 12)
export BERTH_HTTP_TRUST_PROXY=127.0.0.1
EOF
  # One after the other: the first creates the schema (together they would also agree, by a lock).
  for i in 1 2 3; do
    (. "$demo/berth.env" && exec "$repo/bin/berth" serve --host 127.0.0.1 --port "${berth_ports[i - 1]}" --data "$demo/data$i") >"$demo/berth$i.log" 2>&1 &
    echo $! >"$demo/berth$i.pid"
    wait_for "berth$i" "http://127.0.0.1:${berth_ports[i - 1]}/healthz"
  done

  # haproxy: round robin per request, /healthz checks, one log line per request (server named).
  cat >"$demo/haproxy.cfg" <<EOF
global
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  option forwardfor
  timeout connect 5s
  timeout client 10m
  timeout server 10m
frontend registry
  bind 127.0.0.1:$port
  default_backend berth
backend berth
  balance roundrobin
  option httpchk GET /healthz
  server berth1 127.0.0.1:${berth_ports[0]} check
  server berth2 127.0.0.1:${berth_ports[1]} check
  server berth3 127.0.0.1:${berth_ports[2]} check
EOF
  haproxy -f "$demo/haproxy.cfg" >"$demo/haproxy.log" 2>&1 &
  echo $! >"$demo/haproxy.pid"
  wait_for haproxy "http://127.0.0.1:$port/healthz"
  trap - ERR
  echo "scale-demo: Berth at http://127.0.0.1:$port (haproxy) over 127.0.0.1:${berth_ports[0]}-${berth_ports[2]}; settings in $demo/berth.env" >&2
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
