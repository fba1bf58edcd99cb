#!/usr/bin/env python3
"""Print the entrypoint and command of images, pulling them first, as JSON.

    image_config.py [--no-pull] REF [REF ...]

The env shim becomes a service's entrypoint, so the stack file must pass the image's own entrypoint
and command as the shim's arguments: this reads them from the image (`docker image inspect`). Without
--no-pull it first runs `docker pull REF` (the tag may point at a new build; a pull of an unchanged
image transfers nothing). --no-pull (check mode) only inspects what is already on the host; an
image that is not there is reported with "present": false.

Output: {"images": {REF: {"entrypoint": [...], "cmd": [...], "id": "sha256:...", "present": bool}},
"pulled": [REF whose image ID changed]}. Exit 1 naming the image when a pull fails.
Runs on the manager with the docker CLI and the Python standard library only.
"""

from __future__ import annotations

import json
import subprocess
import sys


def inspect(ref: str) -> dict | None:
    proc = subprocess.run(["docker", "image", "inspect", ref], text=True, capture_output=True)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout)[0]
    cfg = data.get("Config") or {}
    return {"entrypoint": cfg.get("Entrypoint") or [], "cmd": cfg.get("Cmd") or [], "id": data.get("Id", ""),
            "present": True}


def main(argv: list[str]) -> int:
    pull = "--no-pull" not in argv
    refs = [a for a in argv if not a.startswith("--")]
    out: dict = {"images": {}, "pulled": []}
    for ref in dict.fromkeys(refs):
        before = inspect(ref)
        if pull:
            proc = subprocess.run(["docker", "pull", "-q", ref], text=True, capture_output=True)
            if proc.returncode != 0:
                print(f"docker pull {ref} failed: {(proc.stderr or proc.stdout).strip()}", file=sys.stderr)
                return 1
        after = inspect(ref)
        if after is None:
            after = {"entrypoint": [], "cmd": [], "id": "", "present": False}
        elif (before or {}).get("id") != after["id"]:
            out["pulled"].append(ref)
        out["images"][ref] = after
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
