#!/bin/sh
# Runs inside one platform's Temporal dev server (tasks/verify.yml). Arguments: the service names of
# the other platforms' servers. Prints "RESOLVES <name>" for each one whose name resolves from here,
# which would mean the two platforms share a network; nothing when they are apart.
for other in "$@"; do
  if getent hosts "$other" >/dev/null 2>&1; then
    echo "RESOLVES $other"
  fi
done
exit 0
