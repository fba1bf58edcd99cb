#!/bin/sh
# Self-check of the platform users' limits, inside the Redis container, over TCP as a client would.
# stdin: per user three lines: name, key prefix, password. Prints per user:
#   SELFCHECK <name> ping=<r> own=<r> outside=<r> scan=<r> randomkey=<r> dbsize=<r> channels=<r>
# each <r> is ok (the command ran), NOPERM (the ACL refused it) or ERR (anything else). ping and own
# (EXISTS on a key under the user's prefix) are the controls: they show the login and the probe work.
# "~outside" can never be under a prefix (prefixes have no "~"), so EXISTS on it must be refused.
set -u
as() {
  out=$(REDISCLI_AUTH="$pw" redis-cli --no-auth-warning -h 127.0.0.1 --user "$name" "$@" 2>&1 | head -n1)
  case "$out" in
    NOPERM*|*"(error) NOPERM"*) echo NOPERM ;;
    ERR*|WRONGPASS*|NOAUTH*|*"(error)"*|*"Could not connect"*) echo ERR ;;
    *) echo ok ;;
  esac
}
while IFS= read -r name && IFS= read -r prefix && IFS= read -r pw; do
  echo "SELFCHECK $name ping=$(as PING) own=$(as EXISTS "${prefix}selfcheck") outside=$(as EXISTS '~outside')" \
    "scan=$(as SCAN 0) randomkey=$(as RANDOMKEY) dbsize=$(as DBSIZE) channels=$(as PUBSUB CHANNELS)"
done
