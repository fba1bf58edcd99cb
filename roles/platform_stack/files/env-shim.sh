#!/bin/sh
# bizosaas-ops env shim (roles/platform_stack/files/env-shim.sh, see docs/app-contract.md).
#
# Delivered as a docker config and run as the entrypoint of a service that has env_from_secrets:
#   /bin/sh /run/bizosaas-env-shim <the image's entrypoint and command...>
# It exports each variable BIZOSAAS_ENV_FROM_SECRETS names ("NAME=source NAME=source ..."), built from
# the docker secret files, then execs its arguments, so an unmodified image gets DATABASE_URL,
# REDIS_URL, SECRET_KEY... as plain variables while the values stay out of the stack file and out of
# `docker service inspect`. Sources:
#   secret:<file>   the content of /run/secrets/<file> (its last newline dropped; BIZOSAAS_SECRETS_DIR
#                   replaces /run/secrets, for tests)
#   postgres_url    postgres://PGUSER:password@PGHOST:PGPORT/PGDATABASE (password: PGPASSWORD_FILE)
#   redis_url       redis://REDIS_USER:password@REDIS_HOST:REDIS_PORT/REDIS_DB (password: REDIS_PASSWORD_FILE)
# User and password are percent-encoded byte by byte (RFC 3986: all but A-Z a-z 0-9 - . _ ~).
# Needs only a POSIX sh (dash, bash, busybox ash) and its builtins (read, printf, case, export, exec):
# no cat, od or sed. It prints no value, and fails (exit 64, naming the variable) when a secret is missing.
set -eu

bz_die() {
  printf 'bizosaas env shim: %s\n' "$*" >&2
  exit 64
}

# bz_read FILE VAR: the file's content in bz_v (every line, the newlines between them kept).
bz_read() {
  [ -r "$1" ] || bz_die "$2: $1 is missing or not readable (is the secret mounted in this service?)"
  bz_v='' bz_nl=''
  while IFS= read -r bz_line || [ -n "$bz_line" ]; do
    bz_v=$bz_v$bz_nl$bz_line
    bz_nl='
'
  done <"$1"
}

# bz_enc STRING: percent-encoded in bz_e, byte by byte (LC_ALL=C: bash would walk characters).
bz_enc() {
  bz_s=$1 bz_e=''
  while [ -n "$bz_s" ]; do
    bz_rest=${bz_s#?}
    bz_c=${bz_s%"$bz_rest"}
    bz_s=$bz_rest
    case $bz_c in
      [A-Za-z0-9._~-]) bz_e=$bz_e$bz_c ;;
      *) bz_e=$bz_e$(printf '%%%02X' "'$bz_c") ;;
    esac
  done
}

bz_need() {
  eval "bz_x=\${$1:-}"
  [ -n "$bz_x" ] || bz_die "$2 needs $1, which is not set"
}

bz_lc_set=${LC_ALL+x} bz_lc=${LC_ALL-}
LC_ALL=C
set -f
# The list is "NAME=source" words: split on spaces on purpose (names and sources hold none).
# shellcheck disable=SC2086
set -- ${BIZOSAAS_ENV_FROM_SECRETS:-} -- "$@"
set +f
while [ "$1" != "--" ]; do
  bz_name=${1%%=*} bz_src=${1#*=}
  shift
  case $bz_name in
    '' | [0-9]* | *[!A-Za-z0-9_]*) bz_die "'$bz_name' is not a variable name" ;;
  esac
  case $bz_src in
    secret:*)
      bz_read "${BIZOSAAS_SECRETS_DIR:-/run/secrets}/${bz_src#secret:}" "$bz_name"
      bz_val=$bz_v
      ;;
    postgres_url)
      for bz_k in PGUSER PGHOST PGPORT PGDATABASE PGPASSWORD_FILE; do bz_need "$bz_k" "$bz_name"; done
      bz_read "$PGPASSWORD_FILE" "$bz_name"
      bz_enc "$bz_v"
      bz_pw=$bz_e
      bz_enc "$PGUSER"
      bz_val="postgres://$bz_e:$bz_pw@$PGHOST:$PGPORT/$PGDATABASE"
      ;;
    redis_url)
      for bz_k in REDIS_USER REDIS_HOST REDIS_PORT REDIS_PASSWORD_FILE; do bz_need "$bz_k" "$bz_name"; done
      bz_read "$REDIS_PASSWORD_FILE" "$bz_name"
      bz_enc "$bz_v"
      bz_pw=$bz_e
      bz_enc "$REDIS_USER"
      bz_val="redis://$bz_e:$bz_pw@$REDIS_HOST:$REDIS_PORT/${REDIS_DB:-0}"
      ;;
    *) bz_die "$bz_name: unknown source '$bz_src' (secret:<file>, postgres_url or redis_url)" ;;
  esac
  export "$bz_name=$bz_val"
done
shift
if [ -n "$bz_lc_set" ]; then LC_ALL=$bz_lc; else unset LC_ALL; fi
unset bz_v bz_nl bz_line bz_s bz_e bz_rest bz_c bz_x bz_lc_set bz_lc bz_name bz_src bz_val bz_pw bz_k
[ "$#" -gt 0 ] || bz_die "no command to run (the image's entrypoint and command come after the shim)"
exec "$@"
