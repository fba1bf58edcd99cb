#!/bin/sh
# The checks of one phase gate (roles/gates), all in one process on the first manager. Read-only.
#   gate.sh PGHOST PGPORT CLIENT_IMAGE NET_PREFIX CA_FILE PATH TRIES N_PSQL HTTPS_WANT [TOKEN ...]
# Tokens: net=<network>  attached=<container>/<network>  dns=<from platform>=<name>  https=<host>
# stdin: N_PSQL checks of six lines each (label, expect ok|refused, user, database, sql, password):
# the passwords never appear in argv. Each result line is `OK|WRONG <tab> check <tab> detail`.
# psql runs inside the running Postgres task, so pg_hba applies exactly as for a platform container.
# shellcheck disable=SC2016  # the psql loop is a script for the container's shell, quoted on purpose
pghost=$1 pgport=$2 image=$3 prefix=$4 ca=$5 path=$6 tries=$7 npsql=$8 https_want=$9
shift 9
if [ "$npsql" -gt 0 ]; then
  c=$(docker ps -q --filter "label=com.docker.swarm.service.name=$pghost" | head -n 1)
  if [ -n "$c" ]; then
    docker exec -i "$c" sh -c '
      while IFS= read -r l && IFS= read -r e && IFS= read -r u && IFS= read -r d \
            && IFS= read -r s && IFS= read -r p; do
        out=$(PGPASSWORD=$p psql -X -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U "$u" -d "$d" -tAc "$s" 2>&1 </dev/null)
        rc=$?
        if [ "$rc" -eq 0 ]; then got=ok; else got=refused; fi
        if [ "$got" = "$e" ]; then v=OK; else v=WRONG; fi
        printf "%s\tpsql %s\texpected %s, got %s (rc=%s) %s\n" "$v" "$l" "$e" "$got" "$rc" \
          "$(printf %s "$out" | tr "\t\n" "  " | cut -c1-300)"
      done' sh "$pghost" "$pgport"
  else
    while IFS= read -r l && IFS= read -r _ && IFS= read -r _ && IFS= read -r _ \
          && IFS= read -r _ && IFS= read -r _; do
      printf 'WRONG\tpsql %s\tno running task of the service %s on this manager\n' "$l" "$pghost"
    done
  fi
fi
nets=""
attached=""
froms=""
for t; do
  case $t in
    net=*)
      n=${t#net=}
      [ -n "$nets" ] || nets=$(docker network ls --format '{{.Name}}')
      if printf '%s\n' "$nets" | grep -qxF "$n"; then
        printf 'OK\tnetwork %s\texists\n' "$n"
      else
        printf 'WRONG\tnetwork %s\tdoes not exist\n' "$n"
      fi ;;
    attached=*)
      a=${t#attached=}; c=${a%%/*}; n=${a#*/}
      [ -n "$attached" ] || attached=$(docker container inspect --format \
        '{{range $k, $v := .NetworkSettings.Networks}}{{println $k}}{{end}}' "$c" 2>&1)
      if printf '%s\n' "$attached" | grep -qxF "$n"; then
        printf 'OK\tedge %s on %s\tattached\n' "$c" "$n"
      else
        printf 'WRONG\tedge %s on %s\tnot attached (traefik_extra_networks; run --tags traefik): %s\n' "$c" "$n" \
          "$(printf %s "$attached" | tr '\t\n' '  ' | cut -c1-200)"
      fi ;;
    dns=*)
      f=${t#dns=}
      froms="$froms ${f%%=*}" ;;
  esac
done
for f in $froms; do
  names=""
  for t; do
    case $t in dns=*) names="$names ${t##*=}" ;; esac
  done
  # one container on the private network for all names; getent exits 2 when some key is
  # missing, and what it prints tells which names resolved
  # shellcheck disable=SC2086  # one argument per name
  found=$(docker run --rm --network "$prefix$f" --entrypoint getent "$image" hosts $names 2>&1)
  for t; do
    case $t in
      dns=*)
        rest=${t#dns=}; to=${rest%%=*}; n=${rest#*=}
        if printf '%s\n' "$found" | awk -v n="$n" '{ for (i = 2; i <= NF; i++) if ($i == n) f = 1 } END { exit !f }'
        then got=resolves; else got=unresolved; fi
        if [ "$f" = "$to" ]; then want=resolves; else want=unresolved; fi
        if [ "$got" = "$want" ]; then v=OK; else v=WRONG; fi
        printf '%s\tdns %s -> %s\t%s: %s on %s%s, expected %s %s\n' "$v" "$f" "$to" "$n" "$got" "$prefix" "$f" "$want" \
          "$([ "$v" = OK ] || printf %s "$found" | tr '\t\n' '  ' | cut -c1-200)" ;;
    esac
  done
done
for t; do
  case $t in
    https=*)
      h=${t#https=}
      i=0
      while :; do
        i=$((i + 1))
        if [ -n "$ca" ]; then
          r=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --resolve "$h:443:127.0.0.1" \
            --cacert "$ca" "https://$h$path" 2>&1)
        else
          r=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --resolve "$h:443:127.0.0.1" \
            "https://$h$path" 2>&1)
        fi
        rc=$?
        case "$https_want:$rc:$r" in tls:0:* | 2xx:0:2*) break ;; esac
        [ "$i" -lt "$tries" ] || break
        sleep 3
      done
      case "$https_want:$rc:$r" in
        tls:0:* | 2xx:0:2*) printf 'OK\thttps %s\tHTTP %s through Traefik (certificate trusted)\n' "$h" "$r" ;;
        *) printf 'WRONG\thttps %s\tcurl exit %s: %s\n' "$h" "$rc" "$(printf %s "$r" | tr '\t\n' '  ' | cut -c1-300)" ;;
      esac ;;
  esac
done
