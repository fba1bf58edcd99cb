#!/bin/sh
# The official redis image's entrypoint, for Debian's redis-server.
set -e

# "docker run IMAGE --appendonly yes" or "docker run IMAGE /path/redis.conf" -> redis-server ...
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
  # The official image builds Redis with protected mode off (a container is reached from other
  # containers, and the password or ACL is the protection). Debian's binary has it on, so turn it
  # off unless the caller chose, or gave a config file (which then decides).
  case " $* " in
    *" --protected-mode "*) ;;
    *)
      if [ "${2%.conf}" = "${2:-}" ]; then
        set -- "$@" --protected-mode no
      fi ;;
  esac
  if [ "$(id -u)" = '0' ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
  fi
fi

# Files Redis writes (RDB, AOF) are private, as upstream.
um="$(umask)"
if [ "$um" = '0022' ]; then
  umask 0077
fi

exec "$@"
