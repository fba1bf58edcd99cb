#!/bin/sh
# The command line of the official haproxy image: arguments that start with "-" are haproxy's,
# and haproxy itself runs in master-worker mode (-W) without forking into the background (-db),
# so it stays PID 1's child and logs to stdout. Anything else runs as given.
set -e
case "$1" in
  -*) set -- haproxy "$@" ;;
esac
if [ "$1" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
