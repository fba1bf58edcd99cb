"""A fake Dokploy v0.30.2 for the dokploy_* module tests: stdlib http.server in a thread.

It implements only the endpoints the modules call, with the response shapes of Dokploy's source
(apps/dokploy/server/api/routers/*.ts, packages/server/src/services/*.ts, the better-auth endpoints and
the compose webhook), and records every request so a test can assert what was (not) asked.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

SESSION_COOKIE = "better-auth.session_token"
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


def _id() -> str:
    return secrets.token_urlsafe(15)[:21]


@dataclass
class State:
    users: list[dict] = field(default_factory=list)
    organization: dict | None = None
    sessions: dict[str, str] = field(default_factory=dict)  # token -> user id
    keys: list[dict] = field(default_factory=list)
    projects: list[dict] = field(default_factory=list)
    environments: list[dict] = field(default_factory=list)
    composes: list[dict] = field(default_factory=list)
    deployments: list[dict] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    # "POST compose.update" -> (status, body) for every call, or a list of them consumed one per call
    failures: dict[str, Any] = field(default_factory=dict)
    deploy_outcome: str = "done"
    deploy_polls: int = 1  # polls of deployment.allByCompose before a running deployment finishes
    clock: int = 0

    def now(self) -> str:
        self.clock += 1
        return f"2026-12-03T10:{self.clock // 60:02d}:{self.clock % 60:02d}.000Z"


class FakeDokploy:
    def __init__(self) -> None:
        self.state = State()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.lock = threading.Lock()

    def __enter__(self) -> FakeDokploy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- helpers for tests -----------------------------------------------------------------------
    def seed_owner(self, email: str = "owner@example.test", password: str = "correct-horse") -> dict:
        user = {"id": _id(), "email": email, "password": password, "firstName": "Owner", "lastName": ""}
        self.state.users.append(user)
        self.state.organization = {
            "id": _id(),
            "name": "My Organization",
            "ownerId": user["id"],
            "createdAt": self.state.now(),
        }
        return user

    def add_key(self, rate_limited: bool = False, name: str = "bizosaas-ops") -> str:
        if not self.state.users:
            self.seed_owner()
        key = "dkp_" + secrets.token_hex(16)
        self.state.keys.append(
            {
                "id": _id(),
                "key": key,
                "name": name,
                "userId": self.state.users[0]["id"],
                "organizationId": self.state.organization["id"],
                "rateLimitEnabled": rate_limited,
                "rateLimitMax": 10,
                "requestCount": 0,
                "enabled": True,
                "createdAt": self.state.now(),
            }
        )
        return key

    def mutations(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.state.requests if m in MUTATING]

    def calls(self) -> list[str]:
        return [f"{m} {p}" for m, p, _ in self.state.requests]

    def compose(self, name: str) -> dict:
        return next(c for c in self.state.composes if c["name"] == name)

    def clear(self) -> None:
        self.state.requests.clear()

    # -- views with Dokploy's shapes -------------------------------------------------------------
    def _project_all(self) -> list[dict]:
        out = []
        for p in sorted(self.state.projects, key=lambda x: x["createdAt"], reverse=True):
            envs = []
            for e in (e for e in self.state.environments if e["projectId"] == p["projectId"]):
                envs.append(
                    {
                        "name": e["name"],
                        "environmentId": e["environmentId"],
                        "isDefault": e["isDefault"],
                        "applications": [],
                        "mariadb": [],
                        "mongo": [],
                        "mysql": [],
                        "postgres": [],
                        "redis": [],
                        "libsql": [],
                        "compose": [
                            {"composeId": c["composeId"], "name": c["name"], "composeStatus": c["composeStatus"]}
                            for c in self.state.composes
                            if c["environmentId"] == e["environmentId"]
                        ],
                    }
                )
            out.append({**p, "environments": envs, "projectTags": []})
        return out

    def _compose_one(self, c: dict) -> dict:
        env = next(e for e in self.state.environments if e["environmentId"] == c["environmentId"])
        project = next(p for p in self.state.projects if p["projectId"] == env["projectId"])
        return {
            **c,
            "environment": {**env, "project": project},
            "deployments": [d for d in self.state.deployments if d["composeId"] == c["composeId"]],
            "mounts": [],
            "domains": [],
            "github": None,
            "gitlab": None,
            "bitbucket": None,
            "gitea": None,
            "server": None,
            "backups": [],
            "hasGitProviderAccess": True,
            "unauthorizedProvider": None,
        }

    def _new_deployment(self, c: dict, title: str, description: str) -> dict:
        d = {
            "deploymentId": _id(),
            "title": title,
            "description": description,
            "status": "running",
            "logPath": f"/etc/dokploy/logs/{c['appName']}/{c['appName']}-x.log",
            "pid": None,
            "composeId": c["composeId"],
            "applicationId": None,
            "createdAt": self.state.now(),
            "startedAt": None,
            "finishedAt": None,
            "errorMessage": None,
            "_polls": 0,
        }
        self.state.deployments.append(d)
        c["composeStatus"] = "running"
        return d

    def _advance(self, compose_id: str) -> None:
        for d in self.state.deployments:
            if d["composeId"] == compose_id and d["status"] == "running":
                d["_polls"] += 1
                if d["_polls"] >= self.state.deploy_polls:
                    d["status"] = self.state.deploy_outcome
                    d["finishedAt"] = self.state.now()
                    if d["status"] == "error":
                        d["errorMessage"] = "Error: ❌ Docker command failed"
                    c = next(x for x in self.state.composes if x["composeId"] == compose_id)
                    c["composeStatus"] = "done" if d["status"] == "done" else "error"

    # -- the HTTP side ---------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                raw = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
                self.send_response(status)
                ctype = "text/html" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake.lock:
                    proc = url.path[len("/api/") :] if url.path.startswith("/api/") else url.path
                    fake.state.requests.append((method, proc, body if method == "POST" else query))
                    failure = fake.state.failures.get(f"{method} {proc}")
                    if isinstance(failure, list):
                        failure = failure.pop(0) if failure else None
                    if failure:
                        self._send(*failure)
                        return
                    status, payload, headers = fake.route(method, url.path, query, body, self.headers)
                self._send(status, payload, headers)

        return Handler

    def _caller(self, headers: Any) -> tuple[dict | None, str | None]:
        """(user, organization id) from x-api-key or the session cookie, like validateRequest."""
        key = headers.get("x-api-key")
        if key:
            found = next((k for k in self.state.keys if k["key"] == key and k["enabled"]), None)
            if not found:
                return None, None
            if found["rateLimitEnabled"] and found["requestCount"] >= found["rateLimitMax"]:
                return None, None
            found["requestCount"] += 1
            user = next(u for u in self.state.users if u["id"] == found["userId"])
            return user, found["organizationId"]
        cookie = headers.get("Cookie") or ""
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE:
                user_id = self.state.sessions.get(value.split(".")[0])
                if user_id:
                    user = next(u for u in self.state.users if u["id"] == user_id)
                    return user, self.state.organization["id"]
        return None, None

    def _session(self, user: dict) -> tuple[dict, dict[str, str]]:
        token = secrets.token_hex(16)
        self.state.sessions[token] = user["id"]
        cookie = f"{SESSION_COOKIE}={token}.sig; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        public = {k: v for k, v in user.items() if k != "password"}
        return {"token": token, "user": {**public, "name": public["firstName"]}}, {"Set-Cookie": cookie}

    def route(self, method: str, path: str, query: dict, body: dict, headers: Any) -> tuple[int, Any, dict | None]:
        s = self.state
        if path == "/api/health" and method == "GET":
            return 200, {"ok": True}, None
        if path == "/register" and method == "GET":
            if s.users:
                return 307, None, {"Location": "/"}
            return 200, "<html>register</html>", None
        if path == "/api/auth/sign-up/email" and method == "POST":
            if s.users:  # databaseHooks.user.create.before: isAdminPresent
                return 400, {"code": "FAILED_TO_CREATE_USER", "message": "Admin is already created"}, None
            if len(body.get("password") or "") < 8:
                return 400, {"code": "PASSWORD_TOO_SHORT", "message": "Password too short"}, None
            user = {
                "id": _id(),
                "email": body["email"],
                "password": body["password"],
                "firstName": body.get("name"),
                "lastName": body.get("lastName", ""),
            }
            s.users.append(user)
            s.organization = {"id": _id(), "name": "My Organization", "ownerId": user["id"], "createdAt": s.now()}
            payload, cookie = self._session(user)
            return 200, payload, cookie
        if path == "/api/auth/sign-in/email" and method == "POST":
            user = next((u for u in s.users if u["email"] == body.get("email")), None)
            if not user or user["password"] != body.get("password"):
                return 401, {"code": "INVALID_EMAIL_OR_PASSWORD", "message": "Invalid email or password"}, None
            payload, cookie = self._session(user)
            return 200, {"redirect": False, **payload}, cookie
        if path.startswith("/api/deploy/compose/") and method == "POST":
            token = path.rsplit("/", 1)[1]
            c = next((c for c in s.composes if c["refreshToken"] == token), None)
            if not c:
                return 404, {"message": "Compose Not Found"}, None
            if c["autoDeploy"] is False:
                return 400, {"message": "Automatic deployments are disabled for this compose"}, None
            self._new_deployment(c, "Manual deployment", "Hash: ")
            return 200, {"message": "Compose deployed successfully"}, None
        if not path.startswith("/api/"):
            return 404, "<html>404</html>", None
        # The REST API: /api/[...trpc].ts answers 401 before anything without a valid caller.
        user, org_id = self._caller(headers)
        if not user:
            return 401, {"message": "Unauthorized"}, None
        proc = path[len("/api/") :]
        handler = getattr(self, "api_" + proc.replace(".", "_"), None)
        if handler is None or getattr(handler, "method", "GET") != method:
            return 404, {"message": "Not found", "code": "NOT_FOUND"}, None
        status, payload = handler(user, org_id, query if method == "GET" else body)
        return status, payload, None

    # -- procedures (tRPC via trpc-openapi) ------------------------------------------------------
    def api_user_get(self, user: dict, org_id: str, _in: dict) -> tuple[int, Any]:
        keys = [
            {k: v for k, v in key.items() if k in ("id", "name", "enabled", "createdAt")}
            | {"prefix": None, "expiresAt": None}
            for key in self.state.keys
            if key["userId"] == user["id"]
        ]
        public = {k: v for k, v in user.items() if k != "password"}
        return 200, {
            "id": _id(),
            "organizationId": org_id,
            "userId": user["id"],
            "role": "owner",
            "isDefault": True,
            "user": {**public, "apiKeys": keys},
        }

    def api_organization_all(self, user: dict, org_id: str, _in: dict) -> tuple[int, Any]:
        return 200, [{**self.state.organization, "members": [{"userId": user["id"], "role": "owner"}]}]

    def api_user_createApiKey(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        if not body.get("name") or not (body.get("metadata") or {}).get("organizationId"):
            return 400, {
                "message": "Input validation failed",
                "code": "BAD_REQUEST",
                "issues": [{"message": "Required"}],
            }
        key = "dkp_" + secrets.token_hex(16)
        row = {
            "id": _id(),
            "key": key,
            "name": body["name"],
            "userId": user["id"],
            "organizationId": body["metadata"]["organizationId"],
            "rateLimitEnabled": body.get("rateLimitEnabled", True),  # better-auth's default: on, 10 a day
            "rateLimitMax": body.get("rateLimitMax", 10),
            "requestCount": 0,
            "enabled": True,
            "createdAt": self.state.now(),
        }
        self.state.keys.append(row)
        return 200, {
            "id": row["id"],
            "name": row["name"],
            "start": key[:6],
            "prefix": None,
            "key": key,
            "enabled": True,
            "rateLimitEnabled": row["rateLimitEnabled"],
            "rateLimitMax": row["rateLimitMax"],
            "rateLimitTimeWindow": 86400000,
            "remaining": None,
            "metadata": None,
            "permissions": None,
        }

    def api_user_deleteApiKey(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        before = len(self.state.keys)
        self.state.keys = [k for k in self.state.keys if k["id"] != body.get("apiKeyId")]
        if len(self.state.keys) == before:
            return 404, {"message": "API key not found", "code": "NOT_FOUND"}
        return 200, True

    def api_project_all(self, user: dict, org_id: str, _in: dict) -> tuple[int, Any]:
        return 200, self._project_all()

    def api_project_create(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        if not body.get("name"):
            return 400, {"message": "Input validation failed", "code": "BAD_REQUEST", "issues": [{"message": "name"}]}
        s = self.state
        project = {
            "projectId": _id(),
            "name": body["name"],
            "description": body.get("description"),
            "createdAt": s.now(),
            "organizationId": org_id,
            "env": body.get("env", ""),
        }
        s.projects.append(project)
        env = {
            "environmentId": _id(),
            "name": "production",
            "description": "Production environment",
            "createdAt": s.now(),
            "env": "",
            "projectId": project["projectId"],
            "isDefault": True,
        }
        s.environments.append(env)
        return 200, {"project": project, "environment": env}

    def api_project_update(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        project = next((p for p in self.state.projects if p["projectId"] == body.get("projectId")), None)
        if not project:
            return 404, {"message": "Project not found", "code": "NOT_FOUND"}
        project.update({k: v for k, v in body.items() if k in ("name", "description", "env")})
        return 200, project

    def api_project_remove(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        s = self.state
        project = next((p for p in s.projects if p["projectId"] == body.get("projectId")), None)
        if not project:
            return 404, {"message": "Project not found", "code": "NOT_FOUND"}
        envs = {e["environmentId"] for e in s.environments if e["projectId"] == project["projectId"]}
        s.projects.remove(project)
        s.environments = [e for e in s.environments if e["environmentId"] not in envs]
        s.composes = [c for c in s.composes if c["environmentId"] not in envs]
        return 200, project

    def api_environment_create(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        if body.get("name") == "production":
            return 400, {"message": "You cannot create a environment with the name 'production'", "code": "BAD_REQUEST"}
        env = {
            "environmentId": _id(),
            "name": body["name"],
            "description": body.get("description"),
            "createdAt": self.state.now(),
            "env": "",
            "projectId": body["projectId"],
            "isDefault": False,
        }
        self.state.environments.append(env)
        return 200, env

    def api_compose_create(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        if "description" not in body or not body.get("name") or not body.get("environmentId"):
            return 400, {
                "message": "Input validation failed",
                "code": "BAD_REQUEST",
                "issues": [{"message": "Required"}],
            }
        base = (body.get("appName") or "compose").strip().replace(" ", "-").lower()
        row = {
            "composeId": _id(),
            "name": body["name"],
            "appName": f"{base}-{secrets.token_hex(3)}",  # buildAppName: "<appName>-<6 random>"
            "description": body["description"],
            "env": None,
            "composeFile": body.get("composeFile") or "",
            "refreshToken": _id(),
            "sourceType": body.get("sourceType") or "github",
            "composeType": body.get("composeType") or "docker-compose",
            "command": "",
            "autoDeploy": True,
            "composeStatus": "idle",
            "environmentId": body["environmentId"],
            "createdAt": self.state.now(),
            "serverId": None,
            "isolatedDeployment": False,
            "randomize": False,
            "suffix": "",
            "composePath": "./docker-compose.yml",
        }
        self.state.composes.append(row)
        return 200, row

    def _find_compose(self, compose_id: str | None) -> dict | None:
        return next((c for c in self.state.composes if c["composeId"] == compose_id), None)

    def api_compose_one(self, user: dict, org_id: str, query: dict) -> tuple[int, Any]:
        c = self._find_compose(query.get("composeId"))
        if not c:
            return 404, {"message": "Compose not found", "code": "NOT_FOUND"}
        return 200, self._compose_one(c)

    def api_compose_update(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        c = self._find_compose(body.get("composeId"))
        if not c:
            return 404, {"message": "Compose not found", "code": "NOT_FOUND"}
        c.update(
            {k: v for k, v in body.items() if k not in ("composeId", "appName", "serverId")}
        )  # updateCompose drops appName
        return 200, c

    def api_compose_deploy(self, user: dict, org_id: str, body: dict) -> tuple[int, Any]:
        c = self._find_compose(body.get("composeId"))
        if not c:
            return 404, {"message": "Compose not found", "code": "NOT_FOUND"}
        self._new_deployment(c, body.get("title") or "Manual deployment", body.get("description") or "")
        return 200, {"success": True, "message": "Deployment queued", "composeId": c["composeId"]}

    def api_deployment_allByCompose(self, user: dict, org_id: str, query: dict) -> tuple[int, Any]:
        self._advance(query.get("composeId"))
        found = [
            {k: v for k, v in d.items() if not k.startswith("_")}
            for d in self.state.deployments
            if d["composeId"] == query.get("composeId")
        ]
        return 200, sorted(found, key=lambda d: d["createdAt"], reverse=True)


for _name in dir(FakeDokploy):
    if _name.startswith("api_"):
        _fn = getattr(FakeDokploy, _name)
        _fn.method = "GET" if _name.endswith(("_all", "_one", "_get", "_allByCompose")) else "POST"
