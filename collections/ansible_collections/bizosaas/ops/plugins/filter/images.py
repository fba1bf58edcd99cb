"""Image reference filters: validate tags and point every image at one private registry."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: image_ref
short_description: Validate an image reference and rewrite it to a private registry
description:
  - Fails when the reference has no explicit tag or digest (C(latest) is refused too).
  - With a registry (C(host[:port])), the upstream registry part is replaced by it, so
    C(pgvector/pgvector:pg17) becomes C(REG/pgvector/pgvector:pg17) and C(redis:7) becomes
    C(REG/library/redis:7), the layout C(docker push) and registry mirrors use.
options:
  _input: {description: The upstream image reference, type: str, required: true}
  registry: {description: "Private registry host[:port], or empty for upstream", type: str, default: ""}
  name: {description: The variable name, used in error messages, type: str, default: image}
"""

_REF = re.compile(
    r"^(?:(?P<host>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def parse_image(ref: str, name: str = "image") -> dict[str, str | None]:
    """Split an image reference; raise AnsibleFilterError naming `name` when it is invalid."""
    if not isinstance(ref, str) or not ref:
        raise AnsibleFilterError(f"{name}: an image reference is required, got {ref!r}")
    m = _REF.match(ref)
    if not m:
        raise AnsibleFilterError(f"{name}: {ref!r} is not a valid image reference")
    host = m.group("host")
    path = m.group("path")
    # "redis/x" has no host: a first component is a host only if it has a dot or a port or is localhost
    if host and not ("." in host or ":" in host or host == "localhost"):
        path = f"{host}/{path}"
        host = None
    tag, digest = m.group("tag"), m.group("digest")
    if not tag and not digest:
        raise AnsibleFilterError(
            f"{name}: {ref!r} has no tag. Pin a version, for example {ref}:<version>, so that every "
            "deploy is reproducible and a rollback knows what to return to."
        )
    if tag == "latest" and not digest:
        raise AnsibleFilterError(f"{name}: {ref!r} uses the moving tag 'latest'; pin a version instead.")
    return {"host": host, "path": path, "tag": tag, "digest": digest}


def image_ref(ref: str, registry: str | None = "", name: str = "image") -> str:
    parts = parse_image(ref, name)
    suffix = (f":{parts['tag']}" if parts["tag"] else "") + (f"@{parts['digest']}" if parts["digest"] else "")
    if not registry:
        return ref
    registry = registry.rstrip("/")
    path = parts["path"]
    if parts["host"] in (None, "docker.io", "index.docker.io", "registry-1.docker.io") and "/" not in path:
        path = f"library/{path}"
    return f"{registry}/{path}{suffix}"


class FilterModule:
    def filters(self):
        return {"image_ref": image_ref}
