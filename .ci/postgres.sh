#!/usr/bin/env bash
# A throw-away PostgreSQL for the tests: relay-store's suite runs against it as well as
# against SQLite when RELAY_TEST_DATABASE_URL is set.
#
#   source .ci/postgres.sh            (what .ci/run does) starts the cluster, exports
#                                     RELAY_TEST_DATABASE_URL and stops the cluster
#                                     when the shell exits (EXIT trap);
#   .ci/postgres.sh COMMAND [ARG...]  starts it, runs the command with the variable set,
#                                     stops it and exits with the command's status.
#
# The URL is postgres://relay_ci:PASSWORD@127.0.0.1:PORT/relay_ci: a role with a fresh
# random password that owns its database and may create others (CREATEDB). The
# cluster is private: initdb + pg_ctl from Debian's /usr/lib/postgresql/*/bin, data in
# a fresh 0700 directory under $TMPDIR (/tmp as root: reachable by the `postgres` user),
# listening on 127.0.0.1 only, on a free port, with no Unix socket, password
# (scram-sha-256) authentication only, and fsync off (its data is thrown away).
# Run as root, the server runs as the `postgres` user; otherwise as the calling user.
#
# Debian's `postgresql` package is installed with apt-get when the binaries are missing
# (as root, or with sudo when it works without a password). When PostgreSQL cannot be
# installed or started, a NOTE says why, RELAY_SKIP_POSTGRES_TESTS gives the reason and
# RELAY_TEST_DATABASE_URL stays unset: the PostgreSQL runs are skipped, CI does not
# fail. A RELAY_TEST_DATABASE_URL already set is used as it is.
# Secrets: the password is never printed or put on a command line; it reaches psql
# through the environment and the server through stdin.

ci_pg_dir=""
ci_pg_bin=""
ci_pg_as=""

ci_pg_note() {
  echo "NOTE: PostgreSQL $1; the PostgreSQL test runs are skipped." >&2
  export RELAY_SKIP_POSTGRES_TESTS="PostgreSQL $1 (.ci/postgres.sh)"
}

# Runs a command as the cluster's user (from inside the cluster's directory).
ci_pg_run() {
  (
    cd "$ci_pg_dir" || exit 1
    case "$ci_pg_as" in
      "") "$@" ;;
      runuser) runuser -u postgres -- "$@" ;;
      su) su -s /bin/bash postgres -c "$(printf '%q ' "$@")" ;;
    esac
  )
}

# The newest PostgreSQL server binaries of Debian's layout, if any.
ci_pg_find_bin() {
  local d
  ci_pg_bin=""
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
      ci_pg_bin=$d
    fi
  done
  [ -n "$ci_pg_bin" ]
}

ci_pg_install() {
  local as_root=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
      as_root="sudo -n"
    else
      return 1
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  $as_root apt-get update >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y --no-install-recommends \
    postgresql >/dev/null 2>&1 || true
}

# A TCP port on 127.0.0.1 that nothing answers on.
ci_pg_free_port() {
  local port i
  for i in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

ci_postgres_stop() {
  if [ -n "$ci_pg_dir" ] && [ -d "$ci_pg_dir" ]; then
    if [ -f "$ci_pg_dir/data/postmaster.pid" ]; then
      ci_pg_run "$ci_pg_bin/pg_ctl" -D "$ci_pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$ci_pg_dir"
  fi
  ci_pg_dir=""
}

ci_postgres_start() {
  if [ -n "${RELAY_TEST_DATABASE_URL:-}" ]; then
    echo "PostgreSQL: using the RELAY_TEST_DATABASE_URL already set." >&2
    return 0
  fi
  if ! ci_pg_find_bin; then
    ci_pg_install || true
    if ! ci_pg_find_bin; then
      ci_pg_note "is not installed and cannot be installed here (no root, no sudo or no apt-get)"
      return 0
    fi
  fi
  if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      ci_pg_note "cannot run as root and there is no postgres user"
      return 0
    fi
    if command -v runuser >/dev/null 2>&1; then ci_pg_as=runuser; else ci_pg_as=su; fi
  fi

  # As root the server runs as `postgres`, which must reach the directory: /tmp, not a
  # TMPDIR that may be private to root.
  local base=${TMPDIR:-/tmp}
  if [ -n "$ci_pg_as" ]; then base=/tmp; fi
  ci_pg_dir=$(mktemp -d "$base/relay-ci-postgres.XXXXXX") || {
    ci_pg_note "has no temporary directory"
    return 0
  }
  chmod 0700 "$ci_pg_dir"
  if [ -n "$ci_pg_as" ]; then chown postgres: "$ci_pg_dir"; fi

  local super_pw user_pw port tries=0 started=""
  super_pw=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
  user_pw=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
  (umask 077 && printf '%s\n' "$super_pw" >"$ci_pg_dir/pwfile")
  if [ -n "$ci_pg_as" ]; then chown postgres: "$ci_pg_dir/pwfile"; fi
  if ! ci_pg_run "$ci_pg_bin/initdb" -D "$ci_pg_dir/data" -U relay_ci_admin \
      --pwfile="$ci_pg_dir/pwfile" --auth=scram-sha-256 -E UTF8 --locale=C \
      >"$ci_pg_dir/initdb.log" 2>&1; then
    ci_pg_note "initdb failed ($(tail -n 1 "$ci_pg_dir/initdb.log"))"
    ci_postgres_stop
    return 0
  fi
  rm -f "$ci_pg_dir/pwfile"
  cat >>"$ci_pg_dir/data/postgresql.conf" <<'EOF'

# .ci/postgres.sh: a private, throw-away cluster for the tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

  # A port taken between the check and the start makes the start fail: try another.
  while [ $tries -lt 5 ] && [ -z "$started" ]; do
    tries=$((tries + 1))
    port=$(ci_pg_free_port) || break
    if ci_pg_run "$ci_pg_bin/pg_ctl" -D "$ci_pg_dir/data" -l "$ci_pg_dir/server.log" \
        -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
      started=yes
    fi
  done
  if [ -z "$started" ]; then
    ci_pg_note "did not start ($(tail -n 1 "$ci_pg_dir/server.log" 2>/dev/null))"
    ci_postgres_stop
    return 0
  fi

  # The role and its database; the password travels on stdin, never on a command line.
  if ! printf "CREATE ROLE relay_ci LOGIN CREATEDB PASSWORD '%s';\nCREATE DATABASE relay_ci OWNER relay_ci;\n" \
      "$user_pw" | PGPASSWORD=$super_pw "$ci_pg_bin/psql" -X -q -v ON_ERROR_STOP=1 \
      -h 127.0.0.1 -p "$port" -U relay_ci_admin -d postgres >/dev/null 2>"$ci_pg_dir/psql.log"; then
    ci_pg_note "started but the test role could not be created ($(tail -n 1 "$ci_pg_dir/psql.log"))"
    ci_postgres_stop
    return 0
  fi
  export RELAY_TEST_DATABASE_URL="postgres://relay_ci:$user_pw@127.0.0.1:$port/relay_ci"
  unset RELAY_SKIP_POSTGRES_TESTS
  echo "PostgreSQL $("$ci_pg_bin/postgres" --version | awk '{print $3}'): a throw-away cluster on 127.0.0.1:$port, database relay_ci (RELAY_TEST_DATABASE_URL)." >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Run on its own: start, run the command, stop.
  set -uo pipefail
  trap ci_postgres_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ci_postgres_start
  if [ $# -gt 0 ]; then
    "$@"
    exit $?
  fi
else
  trap ci_postgres_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ci_postgres_start
fi
