#!/usr/bin/env python3
"""JSON schemas for kubeconform from Kubernetes' own OpenAPI v3 documents.

kubeconform reads one standalone JSON schema per kind; its usual source is a
registry on the internet. Kubernetes publishes OpenAPI v3 documents for each
API group in its repository (api/openapi-spec/v3, in the k8s.io/kubernetes
module the Go module proxy serves); their component schemas are JSON Schema
already. This writes, for every kind they define, a file named as kubeconform
looks it up (`{{ .ResourceKind }}{{ .KindSuffix }}.json`: job-batch-v1.json,
configmap-v1.json): the kind's schema with every component it refers to under
`definitions`, and objects closed (no properties beyond the schema's), as
kubeconform's strict schemas are.

  scripts/k8s_schemas.py OUT_DIR SPEC.json...
"""
import json
import pathlib
import sys

PREFIX = "#/components/schemas/"


def rewrite(node):
    """References pointed at `definitions`; declared objects closed."""
    if isinstance(node, list):
        return [rewrite(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(PREFIX):
            out[key] = "#/definitions/" + value[len(PREFIX):]
        elif key == "properties" and isinstance(value, dict):
            # Property names are data, not keywords.
            out[key] = {name: rewrite(schema) for name, schema in value.items()}
        else:
            out[key] = rewrite(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def reachable(name, definitions):
    """The components `name` refers to, directly or not."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in definitions:
            continue
        seen.add(current)
        todo.extend(refs(definitions[current]))
    return sorted(seen)


def refs(node):
    if isinstance(node, list):
        for n in node:
            yield from refs(n)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value[len("#/definitions/"):]
            else:
                yield from refs(value)


def main():
    out_dir = pathlib.Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    definitions = {}
    kinds = []
    for spec in sys.argv[2:]:
        schemas = json.loads(pathlib.Path(spec).read_text())["components"]["schemas"]
        for name, schema in schemas.items():
            definitions[name] = rewrite(schema)
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                kinds.append((name, gvk))
    written = 0
    for name, gvk in kinds:
        group = gvk["group"].split(".")[0]
        suffix = (f"-{group}" if group else "") + f"-{gvk['version']}"
        schema = dict(definitions[name])
        schema["definitions"] = {d: definitions[d] for d in reachable(name, definitions)}
        path = out_dir / f"{gvk['kind'].lower()}{suffix}.json"
        path.write_text(json.dumps(schema))
        written += 1
    print(f"{written} kinds' schemas in {out_dir}")


if __name__ == "__main__":
    main()
