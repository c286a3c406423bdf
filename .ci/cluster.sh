#!/usr/bin/env bash
# The real-cluster scenario (bench/cluster): docker-compose.yml's PostgreSQL + Temporal server
# without Docker, renders through the real CLI with a media worker and two style workers in
# separate processes: undisturbed; one style worker SIGKILLed mid-frame; a frame held in flight
# while the Temporal server is SIGKILLed (down 30 s) and started again and PostgreSQL is restarted.
# Every stylized frame must be byte-identical to the undisturbed render's.
#
#   bash .ci/cluster.sh          (as root on Debian, or a user with sudo)
#
# Installs PostgreSQL from Debian's packages when its server binaries are missing (without the
# default cluster or service Debian would otherwise create: the bench starts its own, throwaway).
# The Temporal server is built once from its Go module (needs Go on PATH; ~8.5 minutes) and cached
# per version in ~/.cache/starry-render/temporal-server/ (STARRY_CACHE_DIR moves it); later runs
# reuse it and take about two minutes (30 s of it the server kept down on purpose).
#
# Nothing is left running, whatever happens: the bench runs in its own process group and
# temporary directory; on its exit (or a timeout, or this script being stopped) the group is
# killed and any PostgreSQL under that directory is stopped by the pid in its postmaster.pid
# (pg_ctl detaches PostgreSQL from the group).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Generous: a cold build is ~8.5 minutes and a warm run ~2 minutes; past this something hangs.
CLUSTER_TIMEOUT_S=${CLUSTER_TIMEOUT_S:-2400}

log() { echo "cluster: $*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root (or sudo) to run: $*"; exit 2
  fi
}

# Debian puts the server binaries (initdb, pg_ctl) in /usr/lib/postgresql/<major>/bin, off PATH.
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; }

if ! have_postgres; then
  log "PostgreSQL server binaries not found under /usr/lib/postgresql: installing the postgresql package"
  # No "main" cluster: on a machine with a service manager Debian would start it on port 5432.
  as_root mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' | as_root tee /etc/postgresql-common/createcluster.d/starry-ci.conf >/dev/null
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  have_postgres || { log "postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"; exit 2; }
fi
log "PostgreSQL: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"

version=$(sed -nE 's/^\s*image:\s*temporalio\/server:([0-9]+\.[0-9]+\.[0-9]+).*/v\1/p' docker-compose.yml | head -1)
cache=${STARRY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/starry-render}/temporal-server/$version
if [[ -f $cache/complete ]]; then
  log "Temporal server $version: cached in $cache"
elif ! command -v go >/dev/null 2>&1; then
  log "Go is required to build the Temporal server $version once (then it is cached in $cache) and is not on PATH: install Go 1.25 or newer"
  exit 2
else
  log "Temporal server $version: not cached, the bench builds it with $(go env GOVERSION) (~8.5 minutes, once)"
fi

tmp=$(mktemp -d -t starry-ci-cluster.XXXXXX)
# The bench's PostgreSQL runs as the postgres account (as root): it must reach its directory in here.
chmod 755 "$tmp"
group=

# The live processes of the bench's process group, "pid (name)" a line, read from /proc (a fresh
# machine may lack procps). Zombies are left out: they run nothing, and waiting for their parent
# (or init) to reap them is not ours to do.
group_processes() {
  local stat line fields
  for stat in /proc/[0-9]*/stat; do
    { read -r line <"$stat"; } 2>/dev/null || continue  # gone since the glob
    # "pid (name) state ppid pgrp ...": the name may hold spaces, so split after its last ')'.
    read -r -a fields <<<"${line##*) }"
    if [[ ${fields[2]} == "$group" && ${fields[0]} != Z ]]; then echo "${line%%) *})"; fi
  done
}

# Stops everything the bench may have left: its process group, then PostgreSQL by pid file.
cleanup() {
  local left deadline=$((SECONDS + 60))
  if [[ -n $group ]]; then
    # A stopped bench tears down on its own (workers, server, PostgreSQL): give it a minute, since
    # npm may exit on the signal before the bench it runs has finished.
    while left=$(group_processes) && [[ -n $left ]] && ((SECONDS < deadline)); do sleep 0.5; done
    if [[ -n $left ]]; then
      log "killing what is left in the bench's process group $group:"$'\n'"$left"
      kill -KILL -- "-$group" 2>/dev/null || true
    fi
  fi
  local pidfile pid
  for pidfile in "$tmp"/starry-pg-*/data/postmaster.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(head -n1 "$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      log "stopping the PostgreSQL the bench left running (pid $pid, $(dirname "$pidfile"))"
      # SIGQUIT: immediate shutdown; its child processes go with it.
      kill -QUIT "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
# Stopped from outside (a cancelled CI job): pass it on to the bench, whose own handler tears
# down; cleanup then waits for that.
trap 'if [[ -n $group ]]; then kill -TERM -- "-$group" 2>/dev/null || true; fi; exit 143' TERM INT

# timeout runs in a process group of its own (it is the leader, so its pid is the group's id) and
# signals the whole group when time is up: TERM first, for the bench's teardown, KILL a minute later.
TMPDIR=$tmp timeout --signal=TERM --kill-after=60 "$CLUSTER_TIMEOUT_S" npm run -s bench -- --only cluster &
group=$!
status=0
wait "$group" || status=$?
if [[ $status -eq 124 ]]; then log "timed out after ${CLUSTER_TIMEOUT_S}s (CLUSTER_TIMEOUT_S)"; fi
exit "$status"
