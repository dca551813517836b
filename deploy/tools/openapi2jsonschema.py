#!/usr/bin/env python3
"""Kubernetes OpenAPI v2 document -> one JSON schema per kind, for kubeconform (offline).

Usage: openapi2jsonschema.py SWAGGER_JSON OUT_DIR

Reads the API's swagger.json (shipped in the k8s.io/kubernetes Go module under
api/openapi-spec/) and writes `<kind><suffix>.json` for every definition that names a
group-version-kind, with kubeconform's default naming: `deployment-apps-v1.json`,
`service-v1.json`, `ingress-networking-v1.json` (suffix: `-<first label of the group>-<version>`,
or `-<version>` for the core group). Each file holds the kind's schema and the definitions it
reaches (its `$ref`s stay `#/definitions/...`).

The schemas are strict, as kubeconform's own `openapi2jsonschema --strict` makes them: every
object with `properties` refuses other keys (a misspelt or misplaced field fails), `kind` and
`apiVersion` must name the schema's kind, IntOrString takes a string or an integer and a
Quantity a string or a number. Unlike the published schema sets, null is not allowed for typed
fields: a template that renders an empty value (`containerPort:`) fails.
"""

import copy
import json
import os
import sys

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
REF_PREFIX = "#/definitions/"


def strict(node):
    """Refuses unknown keys in every object that lists its properties (in place)."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        if node.get("format") == "int-or-string":
            node.pop("type", None)
            node.pop("format", None)
            node["oneOf"] = [{"type": "string"}, {"type": "integer"}]
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(ref[len(REF_PREFIX):])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def reachable(name, definitions):
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in definitions:
            continue
        seen.add(current)
        found = set()
        refs(definitions[current], found)
        todo.extend(found - seen)
    return seen


def main(source, out_dir):
    with open(source, encoding="utf-8") as handle:
        definitions = json.load(handle)["definitions"]
    definitions[INT_OR_STRING] = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    definitions[QUANTITY] = {"oneOf": [{"type": "string"}, {"type": "number"}]}
    definitions = {name: strict(copy.deepcopy(schema)) for name, schema in definitions.items()}

    os.makedirs(out_dir, exist_ok=True)
    written = 0
    for name, schema in sorted(definitions.items()):
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
            document = copy.deepcopy(schema)
            props = document.get("properties", {})
            # Only resources (a top-level kind and apiVersion), not WatchEvent, DeleteOptions ...
            if "kind" not in props or "apiVersion" not in props:
                continue
            props["kind"] = {"type": "string", "enum": [kind]}
            props["apiVersion"] = {"type": "string", "enum": [api_version]}
            document["required"] = sorted(set(document.get("required", [])) | {"kind", "apiVersion"})
            document["$schema"] = "http://json-schema.org/draft-04/schema#"
            document["definitions"] = {
                dep: definitions[dep] for dep in sorted(reachable(name, definitions))
            }
            path = os.path.join(out_dir, f"{kind.lower()}{suffix.lower()}.json")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(document, handle, separators=(",", ":"))
            written += 1
    if written == 0:
        sys.exit(f"no resource kinds found in {source}")
    print(f"{written} schemas written to {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
