#!/usr/bin/python
"""Ensure a Dokploy compose (raw source) in a project environment, and deploy it when it changed."""

from __future__ import annotations

import re
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bizosaas.ops.plugins.module_utils.dokploy_api import (
    COMPOSE_COMMAND,
    STACK_COMMAND,
    DokployClient,
    DokployError,
    argument_spec,
    find_one,
    latest_deployments,
    stack_name,
    webhook_path,
)

DOCUMENTATION = r"""
module: dokploy_compose
short_description: Ensure a Dokploy compose with a raw compose file, and deploy it through Dokploy
description:
  - Ensures a compose named O(name) in the environment O(environment) of the Dokploy project O(project), with
    source type C(raw), the type O(compose_type) and the file O(compose_file). The project and environment must
    exist (M(bizosaas.ops.dokploy_project)).
  - The compose file is sent (C(compose.update)) only when its content differs from what Dokploy holds; the diff
    shows the file before and after.
  - The stack (or Compose project) is named exactly O(app_name). Dokploy v0.30.2 cannot be given an exact
    C(appName) through its API (C(compose.create) appends a random suffix, C(compose.update) ignores
    C(appName)), and it deploys a stack as C(docker stack deploy -c docker-compose.yml <appName> --prune
    --with-registry-auth). So unless Dokploy's C(appName) already equals O(app_name), the module sets the
    compose's custom C(command) to that same command with O(app_name) as the stack name. Dokploy's internal
    C(appName) is returned as RV(dokploy_app_name); Dokploy keeps the compose's files and logs under it.
  - With O(deploy=changed), a change that affects what runs (file, type, command, environment) or a compose whose
    last deployment did not finish (C(composeStatus) other than C(done)) triggers C(compose.deploy); O(wait) then
    polls the compose's deployments until the new one is C(done) or C(error).
  - Every compose has a webhook, C(POST <api_url>/api/deploy/compose/<refreshToken>), which redeploys what
    Dokploy holds. It is returned as RV(webhook), a secret. O(auto_deploy=false) makes Dokploy refuse it. A
    redeploy of an unchanged file replaces no task unless an image tag now points at another digest (Swarm only
    updates what changed).
  - Dokploy's own "Stop", "Delete" and stack "Logs" act on Dokploy's C(appName) (RV(dokploy_app_name)), not on the
    pinned stack, so they leave the platform's stack alone and the Logs tab lists no container.
  - A compose in another project or environment that already deploys the stack O(app_name) is an error, not a
    second owner of the same stack.
version_added: 0.1.0
author: bizosaas-ops
extends_documentation_fragment:
  - bizosaas.ops.dokploy
options:
  project:
    description: Name of the Dokploy project (it must exist).
    type: str
    required: true
  environment:
    description: Name of the project's environment (it must exist).
    type: str
    default: production
  name:
    description: Name of the compose in that environment (how Dokploy's UI shows it).
    type: str
    required: true
  app_name:
    description:
      - The Swarm stack name (O(compose_type=stack)) or Compose project name the compose deploys, e.g. the
        platform's stack name C(coreldove). Lowercase letters, digits, C(-) and C(_), starting with a letter or
        digit.
    type: str
    required: true
  description:
    description: Compose description. Unset leaves an existing one alone (a new compose gets an empty one).
    type: str
  compose_type:
    description:
      - V(stack) deploys with C(docker stack deploy) (needs a Swarm manager); V(docker-compose) with
        C(docker compose up).
    type: str
    choices: [stack, docker-compose]
    default: stack
  compose_file:
    description: The whole compose file (YAML text), as Dokploy stores and deploys it.
    type: str
    required: true
  env:
    description:
      - Environment variables Dokploy exports when it deploys (C(KEY=value) lines in the compose's Environment
        tab). Unset leaves Dokploy's value alone; V({}) empties it.
      - Marked no_log, so Ansible masks each value wherever it appears in the output; keep non-secret settings
        in O(compose_file).
    type: dict
  auto_deploy:
    description:
      - Whether the compose's webhook deploys (Dokploy's C(autoDeploy)); when false Dokploy answers it with 400.
    type: bool
    default: true
  deploy:
    description:
      - V(changed) deploys when something that affects the deployment changed, or when Dokploy's last deployment of
        the compose did not finish (never deployed, error, cancelled).
      - V(always) deploys on every run (the task then always reports changed); V(never) only stores the compose.
    type: str
    choices: [changed, always, never]
    default: changed
  deploy_title:
    description: Title of the deployment in Dokploy's deployment list.
    type: str
    default: bizosaas-ops
  wait:
    description:
      - Wait for the deployment this run started to finish. Dokploy calls a stack deployment C(done) when
        C(docker stack deploy) returned, not when Swarm finished the rollout.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the deployment (O(wait)).
    type: int
    default: 600
  return_webhook:
    description:
      - Return the webhook (RV(webhook), a secret). V(false) leaves it out, so a task that deploys need not be
        C(no_log) (which would also hide its errors); read the webhooks with M(bizosaas.ops.dokploy_info) instead.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads only; reports what would be created, updated and deployed.
  diff_mode:
    support: full
    description: The compose's settings and file before and after; environment values are never shown.
  idempotent:
    support: partial
    details: Idempotent unless O(deploy=always).
"""

EXAMPLES = r"""
- name: Ensure the platform's compose and deploy it when it changed
  bizosaas.ops.dokploy_compose:
    project: coreldove
    name: coreldove
    app_name: coreldove
    compose_file: "{{ lookup('ansible.builtin.file', '/opt/bizosaas/stacks/coreldove.yml') }}"
  register: compose
  no_log: true  # the result holds the webhook URL

- name: Store the file without deploying
  bizosaas.ops.dokploy_compose:
    project: coreldove
    name: coreldove
    app_name: coreldove
    compose_file: "{{ stack_yaml }}"
    deploy: never

- name: Redeploy on every run, without waiting
  bizosaas.ops.dokploy_compose:
    project: coreldove
    name: coreldove
    app_name: coreldove
    compose_file: "{{ stack_yaml }}"
    deploy: always
    wait: false
"""

RETURN = r"""
compose_id:
  description: The compose's id (null in check mode when it would be created).
  type: str
  returned: always
dokploy_app_name:
  description: Dokploy's own appName for the compose (O(app_name) plus a random suffix when Dokploy created it).
  type: str
  returned: always
  sample: coreldove-x7k2pq
stack_name:
  description: The stack (or Compose project) the compose deploys, always O(app_name).
  type: str
  returned: always
compose_status:
  description: Dokploy's composeStatus after the run (idle, running, done, error).
  type: str
  returned: always
updated:
  description: The compose fields this run changed (or would change in check mode).
  type: list
  elements: str
  returned: always
deployed:
  description: Whether this run started a deployment (or would in check mode).
  type: bool
  returned: always
deployment:
  description: The deployment this run started, once found; its status is final when O(wait) is true.
  type: dict
  returned: when a deployment was started and found
  contains:
    deployment_id: {description: Id, type: str}
    status: {description: "running, done, error or cancelled", type: str}
    title: {description: Title, type: str}
    created_at: {description: ISO-8601 time, type: str}
    finished_at: {description: ISO-8601 time, type: str}
    error_message: {description: Dokploy's error, type: str}
webhook:
  description:
    - SECRET. The compose's deploy webhook; anyone who knows it can redeploy the compose. Register the result with
      C(no_log) or never print it. Never part of RV(msg).
  type: dict
  returned: when the compose exists and O(return_webhook) is true
  contains:
    path: {description: "C(/api/deploy/compose/<refreshToken>)", type: str}
    url: {description: O(api_url) plus the path, type: str}
"""

APP_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
FINAL = ("done", "error", "cancelled")
POLL_INTERVAL = 2.0
# Fields whose change makes deploy=changed deploy.
DEPLOY_FIELDS = ("composeFile", "composeType", "sourceType", "command", "env")


def desired_command(compose_type: str, app_name: str, dokploy_app_name: str | None) -> str:
    if dokploy_app_name == app_name:
        return ""
    return (STACK_COMMAND if compose_type == "stack" else COMPOSE_COMMAND).format(name=app_name)


def env_text(env: dict[str, Any]) -> str:
    return "\n".join(f"{k}={'' if v is None else v}" for k, v in env.items())


def env_lines(text: str | None) -> list[str]:
    return sorted(line.strip() for line in (text or "").splitlines() if line.strip() and not line.startswith("#"))


def env_keys(text: str | None) -> list[str]:
    return [line.split("=", 1)[0] for line in env_lines(text)]


def render(view: dict[str, Any]) -> str:
    """The compose as diff text: settings first, then the file. Environment values are never shown."""
    if not view:
        return ""
    head = [
        f"name: {view['name']}",
        f"description: {view['description']}",
        f"compose_type: {view['composeType']}",
        f"source_type: {view['sourceType']}",
        f"stack_name: {view['stack']}",
        f"command: {view['command'] or '(Dokploy default)'}",
        f"auto_deploy: {str(view['autoDeploy']).lower()}",
        f"env: {', '.join(view['envKeys']) or '(none)'} (values not shown)",
        "--- compose_file ---",
    ]
    body = view["composeFile"]
    return "\n".join(head) + "\n" + body + ("" if body.endswith("\n") or not body else "\n")


def _view(compose: dict | None) -> dict[str, Any]:
    if not compose:
        return {}
    return {
        "name": compose.get("name"),
        "description": compose.get("description") or "",
        "composeType": compose.get("composeType"),
        "sourceType": compose.get("sourceType"),
        "stack": stack_name(compose),
        "command": compose.get("command") or "",
        "autoDeploy": compose.get("autoDeploy") is not False,
        "envKeys": env_keys(compose.get("env")),
        "composeFile": compose.get("composeFile") or "",
    }


def all_composes(projects: list[dict]) -> list[tuple[dict, dict, dict]]:
    return [
        (project, env, compose)
        for project in projects
        for env in project.get("environments") or []
        for compose in env.get("compose") or []
    ]


def check_stack_clash(client: DokployClient, projects: list[dict], app_name: str, own_id: str | None) -> None:
    """Fail when another compose, anywhere, already deploys the stack app_name (one owner per stack)."""
    for project, env, entry in all_composes(projects):
        if entry.get("composeId") == own_id:
            continue
        other = client.get("compose.one", composeId=entry["composeId"])
        if stack_name(other) == app_name or other.get("appName") == app_name:
            raise DokployError(
                f"The stack {app_name!r} is already deployed by Dokploy compose {other.get('name')!r} "
                f"(composeId {other.get('composeId')}) in project {project.get('name')!r}, environment "
                f"{env.get('name')!r}. A stack has one owner: delete or rename that compose in Dokploy's UI, "
                "or point this task at its project and environment."
            )


def deployment_ids(client: DokployClient, compose_id: str) -> set[str]:
    return {d.get("deploymentId") for d in client.get("deployment.allByCompose", composeId=compose_id) or []}


def wait_for_deployment(
    client: DokployClient, compose_id: str, known: set[str], timeout: int, wait: bool
) -> dict[str, Any] | None:
    """The deployment that appeared after `known`; with `wait`, polled until it is final."""
    deadline = time.monotonic() + max(0, timeout)
    newest: dict | None = None
    while True:
        fresh = [
            d
            for d in client.get("deployment.allByCompose", composeId=compose_id) or []
            if d.get("deploymentId") not in known
        ]
        if fresh:
            newest = latest_deployments(fresh, 1)[0]
            if not wait or newest["status"] in FINAL:
                return newest
        elif not wait:
            return None
        if time.monotonic() >= deadline:
            state = (
                f"deployment {newest['deployment_id']} is still {newest['status']}"
                if newest
                else "no deployment started"
            )
            raise DokployError(
                f"Dokploy did not finish deploying compose {compose_id} within {timeout}s ({state}). Dokploy runs one "
                "deployment at a time per server: see the compose's Deployments tab, `docker service logs dokploy`, "
                "and raise wait_timeout if the stack is large."
            )
        time.sleep(POLL_INTERVAL)


def run(module: AnsibleModule, client: DokployClient) -> dict[str, Any]:
    p = module.params
    projects = client.get("project.all") or []
    project = find_one(projects, "projects", name=p["project"])
    if project is None:
        raise DokployError(
            f"Dokploy has no project {p['project']!r}: create it first with bizosaas.ops.dokploy_project."
        )
    env = find_one(project.get("environments") or [], "environments", name=p["environment"])
    if env is None:
        raise DokployError(
            f"Dokploy project {p['project']!r} has no environment {p['environment']!r}: create it first with "
            "bizosaas.ops.dokploy_project (environment option)."
        )
    entry = find_one(env.get("compose") or [], "composes", name=p["name"])
    current = client.get("compose.one", composeId=entry["composeId"]) if entry else None

    if current is None or stack_name(current) != p["app_name"]:
        check_stack_clash(client, projects, p["app_name"], current.get("composeId") if current else None)

    desired: dict[str, Any] = {
        "composeType": p["compose_type"],
        "sourceType": "raw",
        "composeFile": p["compose_file"],
        "autoDeploy": p["auto_deploy"],
    }
    if p["description"] is not None:
        desired["description"] = p["description"]
    if p["env"] is not None:
        desired["env"] = env_text(p["env"])

    warnings: list[str] = []
    created = current is None
    if created:
        # compose.create stores name, type, source and file; appName becomes "<app_name>-<6 random>".
        updates = ["create"]
        compose_id = None
        if not module.check_mode:
            made = client.post(
                "compose.create",
                {
                    "name": p["name"],
                    "description": p["description"] or "",
                    "environmentId": env["environmentId"],
                    "composeType": p["compose_type"],
                    "appName": p["app_name"],
                    "sourceType": "raw",
                    "composeFile": p["compose_file"],
                },
            )
            compose_id = made["composeId"]
            # The rest (pinned command, autoDeploy, env) in one update; a run that stops between the two calls
            # finds the compose by name next time and completes it.
            rest = {
                k: v for k, v in desired.items() if k not in ("composeType", "sourceType", "composeFile", "description")
            }
            rest["command"] = desired_command(p["compose_type"], p["app_name"], made.get("appName"))
            current = client.post("compose.update", {"composeId": compose_id, **rest}) or made
        after_view = {
            "name": p["name"],
            "description": p["description"] or "",
            "composeType": p["compose_type"],
            "sourceType": "raw",
            "stack": p["app_name"],
            "command": desired_command(p["compose_type"], p["app_name"], None),
            "autoDeploy": p["auto_deploy"],
            "envKeys": env_keys(desired.get("env")),
            "composeFile": p["compose_file"],
        }
        before_view: dict[str, Any] = {}
    else:
        compose_id = current["composeId"]
        desired["command"] = desired_command(p["compose_type"], p["app_name"], current.get("appName"))
        changed_fields: dict[str, Any] = {}
        for key, value in desired.items():
            have = current.get(key)
            if key == "env":
                same = env_lines(have) == env_lines(value)
            elif key == "autoDeploy":
                same = (have is not False) == value
            elif key in ("description", "command"):
                same = (have or "") == value
            else:
                same = have == value
            if not same:
                changed_fields[key] = value
        updates = sorted(changed_fields)
        old_stack = stack_name(current)
        if "command" in changed_fields and old_stack and old_stack != p["app_name"]:
            warnings.append(
                f"The compose's stack changes from {old_stack!r} to {p['app_name']!r}: Dokploy deploys the new stack "
                f"and leaves {old_stack!r} running; remove it with `docker stack rm {old_stack}` once the new one "
                "serves."
            )
        before_view = _view(current)
        after_view = _view({**current, **changed_fields})
        if changed_fields and not module.check_mode:
            current = client.post("compose.update", {"composeId": compose_id, **changed_fields}) or {
                **current,
                **changed_fields,
            }

    deploy_reason = ""
    if p["deploy"] == "always":
        deploy_reason = "deploy: always"
    elif p["deploy"] == "changed":
        touched = [k for k in DEPLOY_FIELDS if k in updates]
        if created:
            deploy_reason = "new compose"
        elif touched:
            deploy_reason = "changed " + ", ".join(touched)
        elif (current or {}).get("composeStatus") not in ("done", "running"):
            deploy_reason = f"last deployment not done (composeStatus {current.get('composeStatus')})"

    deployment = None
    if deploy_reason and not module.check_mode:
        known = deployment_ids(client, compose_id)
        client.post(
            "compose.deploy",
            {"composeId": compose_id, "title": p["deploy_title"], "description": f"bizosaas-ops: {deploy_reason}"},
        )
        deployment = wait_for_deployment(client, compose_id, known, p["wait_timeout"], p["wait"])
        if deployment and deployment["status"] in ("error", "cancelled"):
            raise DokployError(
                f"Dokploy's deployment {deployment['deployment_id']} of compose {p['name']!r} (stack "
                f"{p['app_name']!r}) ended with status {deployment['status']}: "
                f"{deployment['error_message'] or 'no message'}. "
                "The deployment log is in the compose's Deployments tab (and under /etc/dokploy/logs/ on the host)."
            )
        current = client.get("compose.one", composeId=compose_id)

    changed = bool(updates) or bool(deploy_reason)
    parts = []
    if created:
        parts.append(f"create compose {p['name']} (stack {p['app_name']})")
    elif updates:
        parts.append("update " + ", ".join(updates))
    if deploy_reason:
        parts.append(f"deploy ({deploy_reason})" + (f": {deployment['status']}" if deployment else ""))
    result: dict[str, Any] = {
        "changed": changed,
        "compose_id": compose_id,
        "dokploy_app_name": (current or {}).get("appName"),
        "stack_name": p["app_name"],
        "compose_status": (current or {}).get("composeStatus"),
        "updated": updates,
        "deployed": bool(deploy_reason),
        "msg": "; ".join(parts) if parts else f"compose {p['name']} is as wanted",
    }
    if deployment:
        result["deployment"] = deployment
    token = (current or {}).get("refreshToken")
    if token and p["return_webhook"]:
        path = webhook_path(token)
        result["webhook"] = {"path": path, "url": client.url + path}
    if warnings:
        result["warnings"] = warnings
    if module._diff:
        result["diff"] = {
            "before": render(before_view),
            "after": render(after_view),
            "before_header": f"dokploy compose {p['project']}/{p['environment']}/{p['name']} (before)",
            "after_header": f"dokploy compose {p['project']}/{p['environment']}/{p['name']} (after)",
        }
    return result


def main() -> None:
    spec = argument_spec()
    spec.update(
        project={"type": "str", "required": True},
        environment={"type": "str", "default": "production"},
        name={"type": "str", "required": True},
        app_name={"type": "str", "required": True},
        description={"type": "str"},
        compose_type={"type": "str", "choices": ["stack", "docker-compose"], "default": "stack"},
        compose_file={"type": "str", "required": True},
        env={"type": "dict", "no_log": True},
        auto_deploy={"type": "bool", "default": True},
        deploy={"type": "str", "choices": ["changed", "always", "never"], "default": "changed"},
        deploy_title={"type": "str", "default": "bizosaas-ops"},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 600},
        return_webhook={"type": "bool", "default": True},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if not APP_NAME_RE.match(p["app_name"]):
        module.fail_json(
            msg=f"app_name {p['app_name']!r} is not a valid stack name: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit, at most 63 characters."
        )
    if not p["compose_file"].strip():
        module.fail_json(msg="compose_file is empty: Dokploy would deploy nothing")
    try:
        client = DokployClient.from_params(p)
        result = run(module, client)
    except DokployError as exc:
        module.fail_json(msg=exc.msg, status=exc.status, endpoint=exc.endpoint)
    warnings = result.pop("warnings", [])
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
