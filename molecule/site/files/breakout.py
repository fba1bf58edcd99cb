# The breakout matrix (issue 16), run with `python3 -c` inside a platform's container (one that holds
# Postgres, Redis and Temporal credentials): every path from one compromised application container
# to the host and to the other platforms, each tried for real.
#
#   python3 -c "<this file>" '<context JSON>'      the matrix for the platform the context names
#   python3 -c "<this file>" '<JSON list of checks>' those checks (controls from the edge's side)
#
# The context (built by molecule/site/verify_breakout.yml) names this platform ("self"), every
# platform's private network, services ({name: {port, path, signature, networks: {network:
# [address]}}}: the signature is a string only that service's answer holds), database, Redis prefix,
# Temporal address and namespace, the data services, the host's addresses, Dokploy's port and the
# Docker socket proxy. The container's own
# credentials come from its environment (PGUSER, PGPASSWORD_FILE, REDIS_USER, REDIS_PASSWORD_FILE,
# TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE), as an attacker inside it would find them.
#
# Every refusal has a control: the same probe succeeds where it is allowed (its own database, its
# own prefix, its own namespace, a sibling service), so a refusal is the path's, not a broken
# probe's. A refusal may name what it must say ("expect"), so a refusal for another reason is a
# surprise too. It prints one JSON line per check and exits naming every surprise.
import json
import os
import socket
import sys


def _password(check):
    path = check.get("password_file")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    return check.get("password", "")


def resolve(check):
    try:
        return True, socket.gethostbyname(check["name"])
    except OSError as exc:
        return False, str(exc)


def http(check):
    """ok = the service's own answer: the status line starts with `answer` and the body holds `body`.
    Any HTTP answer is not enough: the test host's egress proxy answers HTTP 426 for every address a
    container routes out to."""
    try:
        conn = socket.create_connection((check["address"], int(check["port"])), timeout=4)
    except OSError as exc:
        return False, f"connect: {exc}"
    try:
        conn.settimeout(10)
        request = f"GET {check.get('path', '/')} HTTP/1.0\r\nHost: {check.get('host', check['address'])}\r\n\r\n"
        conn.sendall(request.encode())
        data = b""
        while len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        status = data.split(b"\r\n", 1)[0].decode(errors="replace")
        return status.startswith(check["answer"]) and check.get("body", "").encode() in data, status or "no answer"
    except OSError as exc:
        return False, f"no HTTP answer: {exc}"
    finally:
        conn.close()


def docker_api(check):
    """ok = the Docker API (through the socket proxy) answers 2xx."""
    try:
        conn = socket.create_connection((check["address"], int(check["port"])), timeout=4)
    except OSError as exc:
        return False, f"connect: {exc}"
    try:
        conn.settimeout(10)
        body = b"{}" if check["method"] != "GET" else b""
        head = (f"{check['method']} {check['path']} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        conn.sendall(head.encode() + body)
        status = conn.recv(64).split(b"\r\n", 1)[0].decode(errors="replace")
        parts = status.split(" ")
        return len(parts) > 1 and status.startswith("HTTP/1.") and parts[1].startswith("2"), status or "no answer"
    except OSError as exc:
        return False, f"no answer: {exc}"
    finally:
        conn.close()


def postgres(check):
    import psycopg2

    kw = {"host": check["host"], "port": int(check["port"]), "user": check["user"], "dbname": check["database"],
          "connect_timeout": 5}
    password = _password(check)
    if password:
        kw["password"] = password
    try:
        conn = psycopg2.connect(**kw)
    except psycopg2.Error as exc:
        text = str(exc).strip()
        return False, text.splitlines()[0] if text else type(exc).__name__
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return True, f"logged in to {check['database']} as {check['user']}"
    finally:
        conn.close()


def redis_cmd(check):
    import redis

    client = redis.Redis(host=check["host"], port=int(check["port"]), username=check["user"],
                         password=_password(check), socket_timeout=5, socket_connect_timeout=5)
    try:
        return True, repr(client.execute_command(*check["command"]))[:80]
    except redis.exceptions.NoPermissionError as exc:
        return False, f"NOPERM {exc}"[:160]
    except redis.exceptions.ResponseError as exc:
        # the command ran and failed on its own terms (WRONGTYPE...): not a refusal
        return not str(exc).startswith(("NOPERM", "NOAUTH", "WRONGPASS")), str(exc)[:160]
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        return False, f"connection: {exc}"[:160]
    finally:
        client.close()


def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def temporal(check):
    import grpc

    ns = check["namespace"].encode()
    with grpc.insecure_channel(check["address"]) as channel:
        call = channel.unary_unary("/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace")
        try:
            call(b"\x0a" + _varint(len(ns)) + ns, timeout=10)
            return True, f"namespace {check['namespace']} described"
        except grpc.RpcError as exc:
            return False, f"{exc.code().name}: {exc.details()}"[:160]


def capabilities(check):
    """ok = this container's processes hold no capability (platform_stack drops them all)."""
    with open("/proc/self/status", encoding="utf-8") as handle:
        caps = {k: v.strip() for k, v in (line.split(":", 1) for line in handle if line.startswith("Cap"))}
    ok = int(caps["CapEff"], 16) == 0 and int(caps["CapBnd"], 16) == 0
    return ok, f"CapEff={caps['CapEff']} CapBnd={caps['CapBnd']}"


KINDS = {"capabilities": capabilities,
         "resolve": resolve, "http": http, "socket": docker_api, "postgres": postgres, "redis": redis_cmd,
         "temporal": temporal}


def matrix(ctx, env):
    """Every check for the container of platform ctx["self"], controls first."""
    me = ctx["self"]
    mine = ctx["platforms"][me]
    pg = {"kind": "postgres", "host": ctx["postgres"]["host"], "port": ctx["postgres"]["port"]}
    own_pg = {**pg, "user": env["PGUSER"], "password_file": env["PGPASSWORD_FILE"]}
    rd = {"kind": "redis", "host": ctx["redis"]["host"], "port": ctx["redis"]["port"], "user": env["REDIS_USER"],
          "password_file": env["REDIS_PASSWORD_FILE"]}
    key = f"{mine['redis_prefix']}breakout:{socket.gethostname()}"
    checks = [
        {"kind": "capabilities", "label": "no capability in this container (cap_drop ALL)", "want": "ok"},
        # controls: the same probes succeed where this platform is allowed
        {**own_pg, "label": f"own database {mine['database']}", "database": mine["database"], "want": "ok"},
        {**rd, "label": "SET in its own prefix", "command": ["SET", key, "1", "EX", "60"], "want": "ok"},
        {**rd, "label": "GET in its own prefix", "command": ["GET", key], "want": "ok"},
        {"kind": "temporal", "label": f"own namespace {env['TEMPORAL_NAMESPACE']}", "address": env["TEMPORAL_ADDRESS"],
         "namespace": env["TEMPORAL_NAMESPACE"], "want": "ok"},
    ]
    for svc, spec in sorted(mine["services"].items()):
        checks.append({"kind": "resolve", "label": f"own service {svc}", "name": svc, "want": "ok"})
        for address in spec["networks"].get(mine["private_network"], [])[:1]:
            checks.append({"kind": "http", "label": f"own service {svc} at {address}", "address": address,
                           "port": spec["port"], "path": spec["path"], "answer": "HTTP/1.",
                           "body": spec["signature"], "want": "ok"})
    # the Postgres paths
    for other, data in sorted(ctx["platforms"].items()):
        if other != me:
            checks.append({**own_pg, "label": f"{other}'s database {data['database']}", "database": data["database"],
                           "want": "refused", "expect": "permission denied"})
    checks += [
        {**own_pg, "label": "the postgres maintenance database", "database": "postgres", "want": "refused",
         "expect": "permission denied"},
        {**pg, "label": f"the superuser {ctx['postgres']['superuser']} over TCP", "user": ctx["postgres"]["superuser"],
         "database": "postgres", "want": "refused", "expect": "pg_hba.conf rejects"},
    ]
    # the Redis paths: another prefix, and the commands that enumerate names without a key
    for other, data in sorted(ctx["platforms"].items()):
        if other != me:
            checks.append({**rd, "label": f"GET in {other}'s prefix", "command": ["GET", f"{data['redis_prefix']}x"],
                           "want": "refused", "expect": "NOPERM"})
    for command in (["SCAN", "0"], ["RANDOMKEY"], ["KEYS", "*"], ["PUBSUB", "CHANNELS"]):
        checks.append({**rd, "label": " ".join(command), "command": command, "want": "refused", "expect": "NOPERM"})
    # the Temporal paths: the other platforms' Temporal, and their namespaces on this one
    for other, data in sorted(ctx["platforms"].items()):
        if other == me or not data.get("namespace"):
            continue
        checks.append({"kind": "temporal", "label": f"{other}'s namespace on its Temporal", "address":
                       data["temporal_address"], "namespace": data["namespace"], "want": "refused"})
        checks.append({"kind": "temporal", "label": f"{other}'s namespace on {me}'s Temporal", "address":
                       env["TEMPORAL_ADDRESS"], "namespace": data["namespace"], "want": "refused"})
    # the other platforms' services, by name and by every address on every network
    for other, data in sorted(ctx["platforms"].items()):
        if other == me:
            continue
        for svc, spec in sorted(data["services"].items()):
            for name in (svc, f"tasks.{svc}"):
                checks.append({"kind": "resolve", "label": f"{other}'s {name}", "name": name, "want": "refused"})
            for net, addresses in sorted(spec["networks"].items()):
                for address in addresses:
                    checks.append({"kind": "http", "label": f"{other}'s {svc} at {address} ({net})",
                                   "address": address, "port": spec["port"], "path": spec["path"],
                                   "answer": "HTTP/1.", "body": spec["signature"], "want": "refused"})
    # Dokploy's port on every host address (the gateways included)
    for address in ctx["host_addresses"]:
        checks.append({"kind": "http", "label": f"Dokploy at {address}:{ctx['dokploy_port']}", "address": address,
                       "port": ctx["dokploy_port"], "path": "/api/health", "answer": "HTTP/1.1 200",
                       "body": '"ok":true', "want": "refused"})
    # the Docker API: the socket proxy has no network (its unix socket is only in Traefik's mount), so
    # its name resolves nowhere; and no address of the host answers Docker's TCP port
    for name in (ctx.get("socket_proxy") or {}).get("names", []):
        checks.append({"kind": "resolve", "label": f"the socket proxy {name}", "name": name, "want": "refused"})
    for address in ctx["host_addresses"]:
        for port in (2375, 2376):
            checks.append({"kind": "socket", "label": f"the Docker API at {address}:{port}", "address": address,
                           "port": port, "method": "GET", "path": "/version", "want": "refused"})
    return checks


def run(checks):
    surprises = []
    for check in checks:
        label = check.get("label", check["kind"])
        try:
            ok, detail = KINDS[check["kind"]](check)
        except Exception as exc:  # a probe that crashes is reported, never taken as a refusal
            surprises.append(f"{label}: the probe crashed: {exc!r}")
            continue
        got = "ok" if ok else "refused"
        print(json.dumps({"label": label, "want": check["want"], "got": got, "detail": detail}))
        if got != check["want"]:
            surprises.append(f"{label}: {got} ({detail}), expected {check['want']}")
        elif got == "refused" and check.get("expect") and check["expect"] not in detail:
            surprises.append(f"{label}: refused, but with {detail!r}, not {check['expect']!r}")
    return surprises


if __name__ == "__main__":
    arg = json.loads(sys.argv[1])
    # a context runs the matrix; a list runs those checks (the controls from the edge's side)
    found = run(arg if isinstance(arg, list) else matrix(arg, os.environ))
    sys.exit("; ".join(found) if found else 0)
