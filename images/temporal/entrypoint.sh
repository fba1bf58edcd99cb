#!/bin/sh
# Temporal dev server (server + UI), SQLite on /data.
#   docker run IMAGE                      -> temporal server start-dev --ip 0.0.0.0 ... (below)
#   docker run IMAGE server --log-level warn   (extra args go to `temporal server start-dev`)
#   docker run IMAGE operator namespace list  (any other temporal subcommand)
#   docker run IMAGE sh -c '...'          (anything else runs as is)
# TEMPORAL_NAMESPACES: comma-separated namespaces registered at every start (default "default").
set -e

if [ "${1:-server}" = "server" ]; then
  [ $# -gt 0 ] && shift
  if [ "$(id -u)" = 0 ]; then
    chown temporal:temporal /data "$TEMPORAL_DB_FILENAME" 2>/dev/null || :
    HOME=/home/temporal exec setpriv --reuid=temporal --regid=temporal --init-groups "$0" server "$@"
  fi
  set -- --ip 0.0.0.0 --ui-ip 0.0.0.0 --port 7233 --ui-port 8233 \
    --db-filename "$TEMPORAL_DB_FILENAME" "$@"
  old_ifs=$IFS; IFS=','
  for ns in $TEMPORAL_NAMESPACES; do
    ns=$(echo "$ns" | tr -d ' ')
    [ -n "$ns" ] && set -- "$@" --namespace "$ns"
  done
  IFS=$old_ifs
  exec temporal server start-dev "$@"
fi

if temporal "$1" --help >/dev/null 2>&1; then
  set -- temporal "$@"
fi
exec "$@"
