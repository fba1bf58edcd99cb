#!/bin/sh
# Per-platform key counts and memory of the shared Redis: read-only, as the admin (default) user,
# inside the Redis container (the redis role runs it at the end of a converge, and
# playbooks/redis_usage.yml on its own).
#   sh redis_usage.sh SAMPLES NAME=PREFIX [NAME=PREFIX ...]
# Every database in INFO keyspace is walked with SCAN (COUNT 1000 per call, as any client would),
# each key counted under the first platform prefix it starts with, else under "(no-platform)".
# MEMORY USAGE is asked for every Nth key, N chosen so that about SAMPLES keys are measured per
# database, and a platform's memory is estimated as its sampled bytes x its keys / its sampled keys.
# Output, one line each:
#   MEMORY used=<bytes> maxmemory=<bytes> policy=<policy> evicted=<keys evicted since start>
#   USAGE <name> <prefix or -> keys=<n> sampled=<n> bytes=<estimate> share=<percent of maxmemory>%
set -eu
samples=$1
shift
REDISCLI_AUTH="$(cat /run/secrets/redis_default_password)"
export REDISCLI_AUTH
cli() { redis-cli --no-auth-warning "$@"; }
info() { cli INFO "$1" | tr -d '\r'; }

# One SCAN step per call, so the server is never blocked longer than a SCAN of 1000 keys
# (no-writes: allowed also when maxmemory is reached). ARGV: cursor, every, prefix...
# Returns the next cursor, then keys, sampled keys and sampled bytes per prefix and for the rest.
lua='#!lua flags=no-writes
local every = tonumber(ARGV[2])
local n = #ARGV - 2
local out = {}
for i = 1, (n + 1) * 3 do out[i] = 0 end
local r = redis.call("SCAN", ARGV[1], "COUNT", 1000)
for _, k in ipairs(r[2]) do
  local slot = n + 1
  for i = 1, n do
    local p = ARGV[i + 2]
    if string.sub(k, 1, #p) == p then slot = i; break end
  end
  local base = (slot - 1) * 3
  out[base + 1] = out[base + 1] + 1
  if (out[base + 1] - 1) % every == 0 then
    local m = redis.call("MEMORY", "USAGE", k)
    if m then out[base + 2] = out[base + 2] + 1; out[base + 3] = out[base + 3] + m end
  end
end
table.insert(out, 1, r[1])
return out'

prefixes=""
for pair in "$@"; do prefixes="$prefixes ${pair#*=}"; done

# Each SCAN step prints one line: the counters, without the cursor.
steps() {
  for entry in $(info keyspace | sed -n 's/^db\([0-9]*\):keys=\([0-9]*\).*/\1:\2/p'); do
    db=${entry%%:*}
    every=$((${entry#*:} / samples + 1))
    cursor=0
    while :; do
      # shellcheck disable=SC2086  # the prefixes are words on purpose (validated: no spaces, no globs)
      reply=$(cli -n "$db" EVAL "$lua" 0 "$cursor" "$every" $prefixes | tr '\n' ' ')
      cursor=${reply%% *}
      echo "${reply#* }"
      [ "$cursor" = 0 ] && break
    done
  done
}

mem=$(info memory)
max=$(printf '%s\n' "$mem" | sed -n 's/^maxmemory:\([0-9]*\)$/\1/p')
echo "MEMORY used=$(printf '%s\n' "$mem" | sed -n 's/^used_memory:\([0-9]*\)$/\1/p') maxmemory=$max" \
  "policy=$(printf '%s\n' "$mem" | sed -n 's/^maxmemory_policy:\(.*\)$/\1/p')" \
  "evicted=$(info stats | sed -n 's/^evicted_keys:\([0-9]*\)$/\1/p')"
steps | awk -v names="$* (no-platform)=" -v max="$max" '
  { for (i = 1; i <= NF; i++) sum[i] += $i }
  END {
    n = split(names, pair, " ")
    for (p = 1; p <= n; p++) {
      k = sum[p * 3 - 2] + 0; s = sum[p * 3 - 1] + 0; b = sum[p * 3] + 0
      est = s > 0 ? int(b * k / s) : 0
      share = (max > 0) ? est * 100 / max : 0
      eq = index(pair[p], "=")
      prefix = substr(pair[p], eq + 1)
      printf "USAGE %s %s keys=%d sampled=%d bytes=%d share=%.1f%%\n", substr(pair[p], 1, eq - 1),
        (prefix == "" ? "-" : prefix), k, s, est, share
    }
  }'
