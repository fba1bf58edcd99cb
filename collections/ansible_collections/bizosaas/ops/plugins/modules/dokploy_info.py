#!/usr/bin/python
"""Read Dokploy's projects, environments, composes and their latest deployments (read-only)."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bizosaas.ops.plugins.module_utils.dokploy_api import (
    DokployClient,
    DokployError,
    argument_spec,
    latest_deployments,
    service_count,
    stack_name,
    webhook_path,
)

DOCUMENTATION = r"""
module: dokploy_info
short_description: Read Dokploy's projects, composes, deployments and webhook URLs
description:
  - Lists the organization's projects with their environments, and each environment's composes with their id,
    name, Dokploy appName, the stack they deploy, type, composeStatus and latest deployments.
  - With O(include_webhooks=true) also returns every compose's deploy webhook, a secret.
  - Makes only GET requests (C(project.all), then C(compose.one) per compose).
version_added: 0.1.0
author: bizosaas-ops
extends_documentation_fragment:
  - bizosaas.ops.dokploy
options:
  project:
    description: Only this project (by name). Unset lists them all.
    type: str
  deployments:
    description: How many of each compose's latest deployments to return (newest first).
    type: int
    default: 3
  include_webhooks:
    description: Also return RV(webhooks). Register the result with C(no_log) then.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Read what Dokploy holds
  bizosaas.ops.dokploy_info:
  register: dokploy

- name: Every platform compose finished its last deployment
  ansible.builtin.assert:
    that: >-
      dokploy.projects | map(attribute='environments') | flatten | map(attribute='composes') | flatten
      | rejectattr('compose_status', 'equalto', 'done') | list | length == 0

- name: Read the webhooks (secret)
  bizosaas.ops.dokploy_info:
    include_webhooks: true
  register: hooks
  no_log: true
"""

RETURN = r"""
projects:
  description: Projects, newest first, with their environments and composes.
  type: list
  elements: dict
  returned: always
  contains:
    project_id: {description: Id, type: str}
    name: {description: Name, type: str}
    description: {description: Description, type: str}
    environments:
      description: Environments
      type: list
      elements: dict
      contains:
        environment_id: {description: Id, type: str}
        name: {description: Name, type: str}
        is_default: {description: Dokploy's default environment, type: bool}
        services: {description: Number of services of any kind, type: int}
        composes:
          description: Composes
          type: list
          elements: dict
          contains:
            compose_id: {description: Id, type: str}
            name: {description: Name, type: str}
            app_name: {description: Dokploy's appName, type: str}
            stack_name: {description: The stack or Compose project it deploys (null for a custom command), type: str}
            compose_type: {description: stack or docker-compose, type: str}
            source_type: {description: raw, git, github..., type: str}
            compose_status: {description: idle, running, done or error, type: str}
            auto_deploy: {description: Whether the webhook deploys, type: bool}
            deployments: {description: Latest deployments, newest first, type: list, elements: dict}
webhooks:
  description: SECRET. One entry per compose; anyone who knows a URL can redeploy that compose.
  type: list
  elements: dict
  returned: when include_webhooks is true
  contains:
    project: {description: Project name, type: str}
    environment: {description: Environment name, type: str}
    compose: {description: Compose name, type: str}
    stack_name: {description: Stack name, type: str}
    path: {description: "C(/api/deploy/compose/<refreshToken>)", type: str}
    url: {description: O(api_url) plus the path, type: str}
"""


def collect(client: DokployClient, params: dict[str, Any]) -> dict[str, Any]:
    projects = client.get("project.all") or []
    if params["project"] is not None:
        projects = [p for p in projects if p.get("name") == params["project"]]
    out: list[dict[str, Any]] = []
    webhooks: list[dict[str, Any]] = []
    for project in projects:
        envs = []
        for env in project.get("environments") or []:
            composes = []
            for entry in env.get("compose") or []:
                c = client.get("compose.one", composeId=entry["composeId"])
                composes.append(
                    {
                        "compose_id": c.get("composeId"),
                        "name": c.get("name"),
                        "app_name": c.get("appName"),
                        "stack_name": stack_name(c),
                        "compose_type": c.get("composeType"),
                        "source_type": c.get("sourceType"),
                        "compose_status": c.get("composeStatus"),
                        "auto_deploy": c.get("autoDeploy") is not False,
                        "deployments": latest_deployments(c.get("deployments"), params["deployments"]),
                    }
                )
                if params["include_webhooks"] and c.get("refreshToken"):
                    path = webhook_path(c["refreshToken"])
                    webhooks.append(
                        {
                            "project": project.get("name"),
                            "environment": env.get("name"),
                            "compose": c.get("name"),
                            "stack_name": stack_name(c),
                            "path": path,
                            "url": client.url + path,
                        }
                    )
            envs.append(
                {
                    "environment_id": env.get("environmentId"),
                    "name": env.get("name"),
                    "is_default": bool(env.get("isDefault")),
                    "services": service_count(env),
                    "composes": composes,
                }
            )
        out.append(
            {
                "project_id": project.get("projectId"),
                "name": project.get("name"),
                "description": project.get("description") or "",
                "environments": envs,
            }
        )
    result: dict[str, Any] = {"changed": False, "projects": out}
    if params["include_webhooks"]:
        result["webhooks"] = webhooks
    return result


def main() -> None:
    spec = argument_spec()
    spec.update(
        project={"type": "str"},
        deployments={"type": "int", "default": 3},
        include_webhooks={"type": "bool", "default": False},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        client = DokployClient.from_params(module.params)
        result = collect(client, module.params)
    except DokployError as exc:
        module.fail_json(msg=exc.msg, status=exc.status, endpoint=exc.endpoint)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
