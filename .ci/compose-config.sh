#!/usr/bin/env bash
# Validate docker-compose.yml without a Docker engine: `docker compose config -q`.
#
#   bash .ci/compose-config.sh [COMPOSE_FILE]      (default: docker-compose.yml at the repo root)
#
# `config` only parses, interpolates and validates the file against the Compose
# specification (depends_on conditions, healthchecks, port syntax, ...); it never talks to
# an engine, so it runs on machines that have only the docker client or no docker at all.
#
# Docker Compose v2 itself is installed when missing: the pinned release is built from its
# Go module (github.com/docker/compose/v2, checksums verified by the Go toolchain) and
# installed as the docker CLI plugin. Needs Go >= 1.24 on PATH. Cold: about 2-3 minutes and
# ~1.2 GB of temporary disk (deleted afterwards); later runs reuse the installed binary.
set -euo pipefail

COMPOSE_VERSION=v2.40.3
COMPOSE_MODULE=github.com/docker/compose/v2

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
compose_file=${1:-$repo_root/docker-compose.yml}

# System-wide plugin directory searched by the docker CLI; per-user one when not root.
if [[ -n ${COMPOSE_PLUGIN_DIR:-} ]]; then
  plugin_dir=$COMPOSE_PLUGIN_DIR
elif [[ $(id -u) -eq 0 ]]; then
  plugin_dir=/usr/local/lib/docker/cli-plugins
else
  plugin_dir=$HOME/.docker/cli-plugins
fi
compose=$plugin_dir/docker-compose

log() { echo "compose-config: $*" >&2; }

installed_version() {
  [[ -x $compose ]] || return 1
  "$compose" version --short 2>/dev/null
}

install_compose() {
  if ! command -v go >/dev/null 2>&1; then
    log "Go is required to build Docker Compose $COMPOSE_VERSION and is not on PATH"
    exit 2
  fi
  log "building Docker Compose $COMPOSE_VERSION from $COMPOSE_MODULE ($(go env GOVERSION))"
  local start=$SECONDS build
  build=$(mktemp -d)
  # Private GOPATH/GOCACHE so nothing is left behind; -modcacherw lets rm delete them.
  # shellcheck disable=SC2064
  trap "rm -rf '$build'" EXIT
  export GOPATH=$build/gopath GOCACHE=$build/cache GOFLAGS=-modcacherw CGO_ENABLED=0
  go mod download "$COMPOSE_MODULE@$COMPOSE_VERSION"
  # Built inside the module directory so its own go.mod (replace/exclude directives) applies;
  # this is why `go install module/cmd@version` does not work for this module.
  (
    cd "$GOPATH/pkg/mod/$COMPOSE_MODULE@$COMPOSE_VERSION"
    go build -trimpath \
      -ldflags "-w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" \
      -o "$build/docker-compose" ./cmd
  )
  mkdir -p "$plugin_dir"
  install -m 0755 "$build/docker-compose" "$compose.tmp"
  mv -f "$compose.tmp" "$compose"
  rm -rf "$build"
  trap - EXIT
  log "installed $compose in $((SECONDS - start))s"
}

if [[ $(installed_version || true) != "${COMPOSE_VERSION#v}" ]]; then
  install_compose
fi

if [[ ! -f $compose_file ]]; then
  log "no such file: $compose_file"
  exit 1
fi

# The plugin binary runs standalone too; calling it directly pins the version even when
# another compose plugin (e.g. in ~/.docker/cli-plugins) would shadow it for `docker compose`.
log "docker compose $COMPOSE_VERSION config -q -f $compose_file"
if "$compose" -f "$compose_file" config -q; then
  log "OK"
else
  log "INVALID: $compose_file"
  exit 1
fi
