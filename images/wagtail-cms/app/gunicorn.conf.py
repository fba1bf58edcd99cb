"""gunicorn's settings for the image's default command. GUNICORN_CMD_ARGS overrides any of them."""

from __future__ import annotations

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 30  # a worker silent for 30 s is restarted
graceful_timeout = 20  # SIGTERM (docker stop, a rolling update): finish requests for up to 20 s
keepalive = 5
accesslog = "-"  # stdout
errorlog = "-"  # stderr
forwarded_allow_ips = "*"  # only Traefik reaches the container on the platform's networks
worker_tmp_dir = "/dev/shm"  # the heartbeat files off the container's overlay filesystem
# gunicorn 25+ opens a control socket in $HOME (/app, not writable by the app user): not needed here
control_socket_disable = True
