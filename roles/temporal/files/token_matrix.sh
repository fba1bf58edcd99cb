#!/bin/sh
# Runs inside admin-tools (server mode, tasks/verify.yml): each platform's token, and no token at all,
# against every namespace, through the gateway with TLS, the way a platform's service connects.
# Arguments: gateway host:port, CA file, then <platform>=<token file> pairs, then --, then namespaces.
# Prints "<platform|none> <namespace> ok|denied|error <message>". The tokens never reach argv or output.
addr=$1 ca=$2
shift 2
tokens=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do tokens="$tokens $1"; shift; done
[ "${1:-}" = "--" ] && shift
host=${addr%:*}

describe() { # $1: token file ("" = none), $2: namespace
  if [ -n "$1" ]; then TEMPORAL_API_KEY=$(cat "$1"); else TEMPORAL_API_KEY=""; fi
  export TEMPORAL_API_KEY
  out=$(temporal operator namespace describe --namespace "$2" --address "$addr" --tls \
          --tls-ca-path "$ca" --tls-server-name "$host" 2>&1) && { echo ok; return; }
  if printf '%s' "$out" | grep -qi 'unauthorized\|permissiondenied\|permission denied'; then
    echo denied
  else
    echo "error $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-200)"
  fi
}

for ns in "$@"; do
  echo "none $ns $(describe "" "$ns")"
  for pair in $tokens; do
    echo "${pair%%=*} $ns $(describe "${pair#*=}" "$ns")"
  done
done
