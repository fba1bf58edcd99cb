#!/bin/sh
# The platform's self-check (roles/platform_stack, tasks/selfcheck.yml): every domain through Traefik on
# this host, trusting only the configured CA. Read-only.
#   selfcheck.sh CA_FILE PATH TRIES DNS host=service ...
# Each attempt requests the domains that have not answered 2xx yet, every 3 s, until all have or the
# tries are used up; with DNS=True it also resolves each domain. It prints JSON in the shape of the
# registered loop results the bizosaas.ops.platform_selfcheck_results filter reads.
ca=$1 path=$2 tries=$3 dns=$4
shift 4
pending="$*" done_lines="" i=0
while :; do
  i=$((i + 1)) left="" last=""
  for t in $pending; do
    h=${t%%=*}
    if [ -n "$ca" ]; then
      r=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --resolve "$h:443:127.0.0.1" --cacert "$ca" \
          "https://$h$path" 2>/dev/null)
    else
      r=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --resolve "$h:443:127.0.0.1" "https://$h$path" 2>/dev/null)
    fi
    rc=$?
    line="$t $rc $(printf %s "$r" | tr -cd '0-9')"
    case "$rc:$r" in
      0:2*) done_lines="$done_lines$line
" ;;
      *) left="$left $t" last="$last$line
" ;;
    esac
  done
  pending=$left
  [ -n "$pending" ] && [ "$i" -lt "$tries" ] || break
  sleep 3
done
all="$done_lines$last"
printf '['
sep=""
for t; do
  h=${t%%=*} s=${t#*=}
  # shellcheck disable=SC2046  # rc and status become $1 and $2
  set -- $(printf %s "$all" | awk -v t="$t" '$1 == t { print $2, $3 }')
  ips=""
  [ "$dns" != True ] || ips=$(getent ahostsv4 "$h" | awk '{ printf "%s\\n", $1 }')
  printf '%s{"item": {"host": "%s", "service": "%s"}, "rc": %s, "stdout": "%s", "dns": {"stdout": "%s"}}' \
    "$sep" "$h" "$s" "${1:-99}" "${2:-}" "$ips"
  sep=", "
done
printf ']\n'
