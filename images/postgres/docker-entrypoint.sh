#!/usr/bin/env bash
# The official postgres image's entrypoint contract, reimplemented for Debian's packages:
#   POSTGRES_PASSWORD[_FILE], POSTGRES_USER[_FILE] (default postgres), POSTGRES_DB[_FILE]
#   (default $POSTGRES_USER), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default
#   scram-sha-256), PGDATA, and /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz on first init only.
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR or VAR_FILE (docker secrets), never both.
file_env() {
  local var=$1 fileVar="${1}_FILE" def=${2:-} val
  if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then
    echo >&2 "error: both $var and $fileVar are set (but are exclusive)"
    exit 1
  fi
  val=$def
  if [ -n "${!var:-}" ]; then
    val=${!var}
  elif [ -n "${!fileVar:-}" ]; then
    if [ ! -r "${!fileVar}" ]; then
      echo >&2 "error: $fileVar=${!fileVar} is not a readable file"
      exit 1
    fi
    val=$(<"${!fileVar}")
  fi
  export "$var"="$val"
  unset "$fileVar"
}

# "docker run IMAGE -c foo=bar" means "postgres -c foo=bar", as upstream.
if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
  exec "$@"
fi

# `postgres --version`, `--help`, `-C setting`, `--describe-config` print and exit: no init (upstream).
for arg in "${@:2}"; do
  case "$arg" in
    -'?'|--help|--describe-config|-V|--version|-C) exec "$@" ;;
  esac
done

# Started as root: own the data directory, then run again as postgres (uid 999).
if [ "$(id -u)" = '0' ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 00700 "$PGDATA" || :
  chown -R postgres:postgres /var/run/postgresql
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

mkdir -p "$PGDATA"
chmod 00700 "$PGDATA" 2>/dev/null || :

file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

psql_run() {
  PGHOST=/var/run/postgresql PGPORT=5432 psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc \
    --username "$POSTGRES_USER" "$@"
}

init_database() {
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value for
       the superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
       (POSTGRES_HOST_AUTH_METHOD=trust allows connections without a password: never in production.)
MSG
    exit 1
  fi
  echo "initdb: creating the cluster in $PGDATA (superuser $POSTGRES_USER)"
  local pwfile
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list, as upstream
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host="$POSTGRES_HOST_AUTH_METHOD" $POSTGRES_INITDB_ARGS -D "$PGDATA"
  rm -f "$pwfile"
  # Every host, every database, password checked with scram-sha-256 (or the chosen method).
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

  # A temporary server on the unix socket only, for the init scripts.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  if [ "$POSTGRES_DB" != 'postgres' ]; then
    echo 'CREATE DATABASE :"db" ;' | psql_run --dbname postgres --set db="$POSTGRES_DB"
  fi
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        # shellcheck source=/dev/null  # the operator's own init scripts
        if [ -x "$f" ]; then echo "initdb.d: running $f"; "$f"
        else echo "initdb.d: sourcing $f"; . "$f"; fi ;;
      *.sql) echo "initdb.d: running $f"; psql_run --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "initdb.d: running $f"; gunzip -c "$f" | psql_run --dbname "$POSTGRES_DB" ;;
      *'/*') ;;  # empty directory
      *) echo "initdb.d: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "initdb: done; PostgreSQL init process complete, ready for start up"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  init_database
fi
unset POSTGRES_PASSWORD
exec "$@"
