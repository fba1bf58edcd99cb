"""Structural rules every playbook keeps.

- Every play that reaches the VPS becomes root: after hardening the documented login is the
  non-root admin user, so a play without `become: true` fails (playbooks/traefik.yml did).
- Every playbook that deploys a Swarm service learns the swarm's endpoint mode first
  (playbooks/swarm_facts.yml): without it a `| default('dnsrr')` guess switched vip services to
  dnsrr and Swarm restarted them (`--tags postgres`, playbooks/data_services.yml).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
SERVICE_ROLES = {"postgres", "redis", "temporal", "dokploy", "platform_stack"}
# Entry points that read or check, and deploy nothing.
READ_ONLY_ENTRY_POINTS = {"history", "validate", "gate", "usage"}


def load(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text()) or []


def roles_of(play: dict) -> set[str]:
    names = {r if isinstance(r, str) else r.get("role", r.get("name")) for r in play.get("roles") or []}
    for section in ("pre_tasks", "tasks", "post_tasks"):
        for task in play.get(section) or []:
            for key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                if key in task and task[key].get("tasks_from") not in READ_ONLY_ENTRY_POINTS:
                    names.add(task[key]["name"])
    return names


def expanded(path: Path, seen: tuple = ()) -> list[tuple[Path, dict]]:
    """The plays of a playbook with its imports expanded, in order."""
    out = []
    for play in load(path):
        target = play.get("ansible.builtin.import_playbook")
        if target:
            sub = (path.parent / target).resolve()
            if sub not in seen:
                out += expanded(sub, (*seen, sub))
        else:
            out.append((path, play))
    return out


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.name)
def test_plays_on_the_vps_become_root(path):
    for play in load(path):
        if "hosts" not in play or play.get("connection") == "local" or play["hosts"] == "localhost":
            continue
        if path.name == "connect.yml":  # logs in as the user itself, before any become
            assert play.get("become") is False
            continue
        assert play.get("become") is True, f"{path.name}: play {play.get('name')!r} has no become: true"


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.name)
def test_service_plays_follow_the_swarm_facts(path):
    facts_seen = False
    for source, play in expanded(path):
        if source.name == "swarm_facts.yml":
            facts_seen = True
            continue
        deploys = roles_of(play) & SERVICE_ROLES
        if deploys and source.name != "preflight.yml":
            assert facts_seen, f"{path.name}: {sorted(deploys)} in {source.name} before playbooks/swarm_facts.yml"


def test_no_glue_guesses_the_endpoint_mode():
    for path in [*(ROOT / "group_vars/all").glob("*.yml"), *(ROOT / "roles").glob("*/defaults/main.yml")]:
        text = path.read_text()
        assert "bizosaas_endpoint_mode | default(" not in text, path
        assert "bizosaas_port_mode | default(" not in text, path


@pytest.mark.parametrize("path", [p for p in PLAYBOOKS if p.name not in ("connect.yml", "plan.yml")
                                  and not p.name.startswith(("swarm_facts", "preflight"))], ids=lambda p: p.name)
def test_every_entry_playbook_logs_in_first(path):
    """The first play that reaches a host is connect.yml (admin user, or the bootstrap user on a fresh VPS)."""
    plays = expanded(path)
    reaching = [(src, play) for src, play in plays if play.get("hosts") and play.get("connection") != "local"
                and play["hosts"] != "localhost"]
    if not reaching:
        return
    assert reaching[0][0].name == "connect.yml", f"{path.name}: the first play on the hosts is in {reaching[0][0].name}"


def test_inventories_log_in_as_the_admin_user():
    """After the first run root logins are refused: the inventory's user is the admin user."""
    for env in ("production", "staging"):
        hosts = yaml.safe_load((ROOT / "inventories" / env / "hosts.yml").read_text())
        managers = hosts["all"]["children"]["bizosaas"]["children"]["swarm_managers"]["hosts"]
        for name, host in managers.items():
            assert host.get("ansible_user") != "root", f"inventories/{env}: {name} logs in as root"
