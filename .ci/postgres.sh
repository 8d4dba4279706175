#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests that run lab 03's registry on PostgreSQL.
#
#   source .ci/postgres.sh      # .ci/run does this: exports MLSYS_EDU_TEST_POSTGRES_URL
#   bash .ci/postgres.sh        # prints the export line (the server keeps running)
#
# Installs Debian's `postgresql` package when it is missing (as root), makes a new cluster in
# a temporary folder owned by the unprivileged `postgres` user (or the caller, when not root),
# listens on 127.0.0.1 only, on a free port, with trust authentication (nothing but this
# machine's loopback can reach it), and creates the database `mlsys_test`. When sourced, the
# server and its folder are removed when the calling shell exits.

mlsys_pg_main() {
  local bindir datadir port user
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "postgres.sh: installing Debian's postgresql package" >&2
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        postgresql >/dev/null || { echo "postgres.sh: apt-get install postgresql failed" >&2; return 1; }
    else
      echo "postgres.sh: PostgreSQL is not installed (apt-get install postgresql, as root)" >&2
      return 1
    fi
  fi
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    run() { runuser -u postgres -- "$@"; }
  else
    user=$(id -un)
    run() { "$@"; }
  fi
  datadir=$(mktemp -d "${TMPDIR:-/tmp}/mlsys-postgres.XXXXXX")
  chown "$user" "$datadir" && chmod 700 "$datadir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  run "$bindir/initdb" -D "$datadir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null \
    || { echo "postgres.sh: initdb failed" >&2; return 1; }
  run "$bindir/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $datadir -c max_connections=100" start >/dev/null \
    || { echo "postgres.sh: the server did not start:" >&2; cat "$datadir/server.log" >&2; return 1; }
  run "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres mlsys_test \
    || { echo "postgres.sh: createdb failed" >&2; return 1; }
  MLSYS_PG_STOP="$(printf '%q ' runuser -u "$user" -- "$bindir/pg_ctl" -D "$datadir/data" -m fast stop); rm -rf $(printf '%q' "$datadir")"
  [ "$user" = "$(id -un)" ] && MLSYS_PG_STOP="$(printf '%q ' "$bindir/pg_ctl" -D "$datadir/data" -m fast stop); rm -rf $(printf '%q' "$datadir")"
  export MLSYS_EDU_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/mlsys_test"
  echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') at $MLSYS_EDU_TEST_POSTGRES_URL" >&2
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then  # sourced: export, and stop the server on exit
  if mlsys_pg_main; then
    trap 'eval "$MLSYS_PG_STOP" >/dev/null 2>&1' EXIT
  else
    echo "postgres.sh: no PostgreSQL server; its tests will fail under CI=true" >&2
  fi
else
  set -euo pipefail
  mlsys_pg_main
  echo "export MLSYS_EDU_TEST_POSTGRES_URL=$MLSYS_EDU_TEST_POSTGRES_URL"
  echo "# stop it with: $MLSYS_PG_STOP"
fi
