#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests that run lab 03's registry on PostgreSQL.
#
#   source .ci/postgres.sh      # .ci/run does this before `make test`: it exports
#                               # MLSYS_EDU_TEST_POSTGRES_URL and stops the server on exit
#   bash .ci/postgres.sh        # prints the export line and the stop command (the server
#                               # keeps running until you stop it)
#
# Installs Debian's `postgresql` package when no PostgreSQL is installed (apt-get, as root or
# through passwordless sudo), stopping the packaged cluster the installation may start (we use
# our own). Then makes a new cluster in a temporary folder owned by the unprivileged
# `postgres` user (or by the caller, when not root), listening on 127.0.0.1 only, on a free
# port, its Unix socket in that folder, trust authentication (only this machine's loopback can
# reach it), and creates the database `mlsys_test`. Sourced, it sets an EXIT trap (replacing
# any the caller had) that stops the server and removes its folder. On failure it says why and
# returns 1 without exporting the URL: the PostgreSQL tests then skip, or fail under CI=true.

_mlsys_pg_root() {  # a command as root: directly, or through passwordless sudo
  if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi
}

_mlsys_pg_install() {
  command -v apt-get >/dev/null 2>&1 && _mlsys_pg_root true || {
    echo "postgres.sh: PostgreSQL is not installed (apt-get install postgresql, as root)" >&2
    return 1
  }
  echo "postgres.sh: installing Debian's postgresql package" >&2
  _mlsys_pg_root apt-get update -qq >/dev/null &&
    _mlsys_pg_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql \
      >/dev/null || { echo "postgres.sh: apt-get install postgresql failed" >&2; return 1; }
  if command -v pg_lsclusters >/dev/null 2>&1; then  # the package's own cluster, if started
    pg_lsclusters --no-header 2>/dev/null | awk '$4 == "online" {print $1, $2}' |
      while read -r version cluster; do
        _mlsys_pg_root pg_ctlcluster "$version" "$cluster" stop >/dev/null 2>&1 || true
      done
  fi
}

_mlsys_pg_start() {
  local bindir datadir port owner
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || _mlsys_pg_install || return 1
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ "$(id -u)" = 0 ]; then owner=postgres; else owner=$(id -un); fi
  _mlsys_pg_as_owner() { if [ "$owner" = "$(id -un)" ]; then "$@"; else runuser -u "$owner" -- "$@"; fi; }
  datadir=$(mktemp -d "${TMPDIR:-/tmp}/mlsys-postgres.XXXXXX") || return 1
  chown "$owner" "$datadir" && chmod 700 "$datadir" || return 1
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MLSYS_PG_STOP="$( [ "$owner" = "$(id -un)" ] || printf '%q ' runuser -u "$owner" --)"
  MLSYS_PG_STOP+="$(printf '%q ' "$bindir/pg_ctl" -D "$datadir/data" -m fast -w stop)"
  MLSYS_PG_STOP+="; rm -rf $(printf '%q' "$datadir")"
  _mlsys_pg_as_owner "$bindir/initdb" -D "$datadir/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 >"$datadir/initdb.log" 2>&1 \
    || { echo "postgres.sh: initdb failed:" >&2; cat "$datadir/initdb.log" >&2; rm -rf "$datadir"; return 1; }
  _mlsys_pg_as_owner "$bindir/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $datadir -c max_connections=100" start >/dev/null \
    || { echo "postgres.sh: the server did not start:" >&2; cat "$datadir/server.log" >&2
         eval "$MLSYS_PG_STOP" >/dev/null 2>&1; return 1; }
  _mlsys_pg_as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres mlsys_test \
    || { echo "postgres.sh: createdb failed" >&2; eval "$MLSYS_PG_STOP" >/dev/null 2>&1; return 1; }
  export MLSYS_EDU_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/mlsys_test"
  echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') at" \
    "$MLSYS_EDU_TEST_POSTGRES_URL (loopback only)" >&2
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then  # sourced: export, and stop the server on exit
  if _mlsys_pg_start; then
    trap 'eval "$MLSYS_PG_STOP" >/dev/null 2>&1' EXIT
  else
    echo "postgres.sh: no PostgreSQL server; its tests skip (fail under CI=true)" >&2
  fi
else
  set -uo pipefail
  _mlsys_pg_start || exit 1
  echo "export MLSYS_EDU_TEST_POSTGRES_URL=$MLSYS_EDU_TEST_POSTGRES_URL"
  echo "# stop it with: $MLSYS_PG_STOP"
fi
