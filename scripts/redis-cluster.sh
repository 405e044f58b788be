#!/usr/bin/env bash
# A local Redis Cluster for the tests: 3 primaries and 3 replicas on 127.0.0.1, ports
# $REDIS_CLUSTER_PORT (default 7000) to +5, no persistence.
#
#   scripts/redis-cluster.sh start   starts it unless one already answers cluster_state:ok there;
#                                    prints "started" or "running"
#   scripts/redis-cluster.sh stop    stops the nodes this script started (by their pid files)
#   scripts/redis-cluster.sh status  exit 0 when cluster_state is ok
#
# The node timeout is short (2 s) so that a killed primary's replica is promoted within seconds.
set -euo pipefail
base=${REDIS_CLUSTER_PORT:-7000}
dir=${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/assistant-redis-cluster-$base}
ports=$(seq "$base" $((base + 5)))

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null || true; }
ok() { cli "$base" cluster info | grep -q 'cluster_state:ok'; }
all_ok() {
  for port in $ports; do cli "$port" cluster info | grep -q 'cluster_state:ok' || return 1; done
}

case "${1:-}" in
  status) ok ;;
  start)
    if ok; then echo running; exit 0; fi
    command -v redis-server >/dev/null || { echo "redis-server: not installed" >&2; exit 1; }
    rm -rf "$dir" && mkdir -p "$dir"
    for port in $ports; do
      redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --cluster-enabled yes --cluster-config-file "nodes-$port.conf" \
        --cluster-node-timeout 2000 --save '' --appendonly no \
        --pidfile "$dir/$port.pid" --logfile "$dir/$port.log"
    done
    for port in $ports; do
      for _ in $(seq 1 50); do [ "$(cli "$port" ping)" = PONG ] && break; sleep 0.1; done
    done
    nodes=()
    for port in $ports; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
      { cat "$dir/create.log" >&2; exit 1; }
    for _ in $(seq 1 100); do all_ok && break; sleep 0.1; done
    all_ok || { echo "redis cluster: cluster_state is not ok" >&2; exit 1; }
    # Every replica attached: a test that fails a primary over needs its replica in sync.
    for _ in $(seq 1 100); do
      [ "$(cli "$base" cluster nodes | grep -c 'slave.*connected')" = 3 ] && break
      sleep 0.1
    done
    echo started
    ;;
  stop)
    pids=()
    for port in $ports; do
      if [ -f "$dir/$port.pid" ]; then pids+=("$(cat "$dir/$port.pid")"); fi
    done
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # They write their nodes.conf as they go: wait for them before the directory goes.
    for pid in "${pids[@]}"; do
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
