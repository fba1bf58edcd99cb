#!/usr/bin/python
"""Ensure a Dokploy project, found by name, and one of its environments."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bizosaas.ops.plugins.module_utils.dokploy_api import (
    SERVICE_KINDS,
    DokployClient,
    DokployError,
    argument_spec,
    find_one,
    service_count,
)

DOCUMENTATION = r"""
module: dokploy_project
short_description: Ensure a Dokploy project and its environment
description:
  - Ensures a project, identified by O(name), exists in Dokploy with O(description), and that it has the
    environment O(environment).
  - C(project.create) gives every new project a C(production) environment; another environment name is created
    with C(environment.create). Dokploy refuses to create an environment called C(production) by hand, so a
    project whose C(production) environment was deleted is an error that says so.
  - With O(state=absent) the project is deleted, but only when none of its environments holds a service
    (application, compose or database), unless O(force=true). Deleting a project removes Dokploy's records
    only; Dokploy does not stop the stacks its composes deployed.
version_added: 0.1.0
author: bizosaas-ops
extends_documentation_fragment:
  - bizosaas.ops.dokploy
options:
  name:
    description: Project name (unique among the organization's projects).
    type: str
    required: true
  description:
    description:
      - Project description. Unset leaves an existing project's description alone (a new project gets none).
    type: str
  environment:
    description: Environment that must exist in the project; its id is returned.
    type: str
    default: production
  environment_description:
    description: Description of an environment this module creates (not compared afterwards).
    type: str
    default: ""
  state:
    description: V(present) creates or updates; V(absent) deletes (see O(force)).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), delete the project even when it still holds services. Their Swarm stacks keep running
        and Dokploy no longer shows them.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only; reports what would be created, updated or deleted.
  diff_mode:
    support: full
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Ensure the platform's Dokploy project exists
  bizosaas.ops.dokploy_project:
    name: coreldove
    description: CoreLDove e-commerce platform (managed by bizosaas-ops)
  register: project

- name: Ensure a staging environment in it
  bizosaas.ops.dokploy_project:
    name: coreldove
    environment: staging
    api_key_file: /var/lib/bizosaas-ops/dokploy/api-key

- name: Delete an empty project
  bizosaas.ops.dokploy_project:
    name: scratch
    state: absent
"""

RETURN = r"""
project_id:
  description: The project's id (null in check mode when it would be created).
  type: str
  returned: when state is present
  sample: 0S5Y9TsQ5vD7r5b7xfe0O
environment_id:
  description: The id of O(environment) (null in check mode when it would be created).
  type: str
  returned: when state is present
project:
  description: The project as Dokploy holds it after the run.
  type: dict
  returned: when state is present
  contains:
    name: {description: Name, type: str}
    description: {description: Description, type: str}
    environments: {description: Environment names, type: list, elements: str}
services:
  description: Services per kind still in the project (what blocks a deletion).
  type: dict
  returned: when state is absent and the project exists
"""


def _view(project: dict | None) -> dict[str, Any]:
    if not project:
        return {}
    return {
        "name": project.get("name"),
        "description": project.get("description") or "",
        "environments": sorted(e.get("name") for e in project.get("environments") or []),
    }


def ensure_present(module: AnsibleModule, client: DokployClient, projects: list[dict]) -> dict[str, Any]:
    p = module.params
    project = find_one(projects, "projects", name=p["name"])
    before = _view(project)
    after = dict(before) if project else {"name": p["name"], "description": p["description"] or "", "environments": []}
    changes: list[str] = []
    project_id = project.get("projectId") if project else None
    environment_id = None

    if project is None:
        changes.append("create project")
        after["environments"] = ["production"]
        if not module.check_mode:
            body = {"name": p["name"]}
            if p["description"] is not None:
                body["description"] = p["description"]
            created = client.post("project.create", body)
            project_id = created["project"]["projectId"]
            if p["environment"] == "production":
                environment_id = created["environment"]["environmentId"]
    elif p["description"] is not None and (project.get("description") or "") != p["description"]:
        changes.append("update description")
        after["description"] = p["description"]
        if not module.check_mode:
            client.post("project.update", {"projectId": project_id, "description": p["description"]})

    environments = (project or {}).get("environments") or []
    env = find_one(environments, "environments", name=p["environment"]) if project else None
    if env:
        environment_id = env.get("environmentId")
    elif p["environment"] not in after["environments"]:
        if project is not None and p["environment"] == "production":
            raise DokployError(
                f"Dokploy project {p['name']!r} has no 'production' environment (deleted in the UI?), and Dokploy "
                "refuses to create one by that name (environment.create). Recreate the project, or use another "
                "environment name."
            )
        changes.append(f"create environment {p['environment']}")
        after["environments"] = sorted([*after["environments"], p["environment"]])
        if not module.check_mode:
            created_env = client.post(
                "environment.create",
                {"name": p["environment"], "description": p["environment_description"], "projectId": project_id},
            )
            environment_id = created_env["environmentId"]

    result: dict[str, Any] = {
        "changed": bool(changes),
        "project_id": project_id,
        "environment_id": environment_id,
        "project": after,
        "msg": "; ".join(changes) if changes else f"project {p['name']} is as wanted",
    }
    if module._diff:
        result["diff"] = {"before": before, "after": after, "before_header": f"dokploy project {p['name']}"}
    return result


def ensure_absent(module: AnsibleModule, client: DokployClient, projects: list[dict]) -> dict[str, Any]:
    p = module.params
    project = find_one(projects, "projects", name=p["name"])
    if project is None:
        return {"changed": False, "msg": f"project {p['name']} does not exist"}
    services = {kind: 0 for kind in SERVICE_KINDS}
    for env in project.get("environments") or []:
        for kind in SERVICE_KINDS:
            services[kind] += len(env.get(kind) or [])
    total = sum(service_count(env) for env in project.get("environments") or [])
    services = {k: v for k, v in services.items() if v}
    if total and not p["force"]:
        listed = ", ".join(f"{v} {k}" for k, v in services.items())
        raise DokployError(
            f"Refusing to delete Dokploy project {p['name']!r}: it still holds {total} service(s) ({listed}). "
            "Delete them first, or set force: true (their Swarm stacks keep running, Dokploy forgets them)."
        )
    if not module.check_mode:
        client.post("project.remove", {"projectId": project["projectId"]})
    result: dict[str, Any] = {"changed": True, "services": services, "msg": f"delete project {p['name']}"}
    if module._diff:
        result["diff"] = {"before": _view(project), "after": {}}
    return result


def main() -> None:
    spec = argument_spec()
    spec.update(
        name={"type": "str", "required": True},
        description={"type": "str"},
        environment={"type": "str", "default": "production"},
        environment_description={"type": "str", "default": ""},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        force={"type": "bool", "default": False},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not module.params["name"].strip():
        module.fail_json(msg="name must not be empty")
    try:
        client = DokployClient.from_params(module.params)
        projects = client.get("project.all") or []
        if module.params["state"] == "absent":
            result = ensure_absent(module, client, projects)
        else:
            result = ensure_present(module, client, projects)
    except DokployError as exc:
        module.fail_json(msg=exc.msg, status=exc.status, endpoint=exc.endpoint)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
