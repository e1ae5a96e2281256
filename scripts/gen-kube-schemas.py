#!/usr/bin/env python3
"""Writes strict JSON schemas in kubeconform's local layout, so manifests are validated offline.

kubeconform normally downloads schemas from the internet; here nothing but the package registries
is reachable. The Kubernetes types come from the API server's own OpenAPI document
(`api/openapi-spec/swagger.json` in the k8s.io/kubernetes module the control plane is built
from), our own kinds from the CustomResourceDefinitions in `crds/`.

Layout (what `kubeconform -schema-location DIR -kubernetes-version V -strict` looks up):
    DIR/vV-standalone-strict/<kind>-<first label of group>-<version>.json

"Strict" means what the API server does with unknown fields under `kubectl --validate=strict`:
every object that lists its properties rejects others (`additionalProperties: false`), except
where a CRD says `x-kubernetes-preserve-unknown-fields`.

    gen-kube-schemas.py openapi SWAGGER_JSON K8S_VERSION OUT_DIR
    gen-kube-schemas.py crd K8S_VERSION OUT_DIR CRD_YAML...
"""

import json
import os
import sys

import yaml

# Types whose OpenAPI v2 form ("type: string") is narrower than what the API server accepts.
SPECIAL_DEFINITIONS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]},
}
# Keywords of OpenAPI that JSON Schema draft 4 either lacks or reads differently. Kubernetes
# formats (int32, int-or-string, date-time on null timestamps) are not JSON Schema formats.
DROPPED_KEYWORDS = {"format", "x-kubernetes-group-version-kind", "x-kubernetes-list-type",
                    "x-kubernetes-list-map-keys", "x-kubernetes-patch-strategy",
                    "x-kubernetes-patch-merge-key", "x-kubernetes-map-type", "x-kubernetes-unions",
                    "x-kubernetes-validations", "x-kubernetes-embedded-resource"}


class SchemaError(Exception):
    pass


def file_name(kind, group, version):
    suffix = "-" + group.split(".")[0].lower() if group else ""
    return f"{kind.lower()}{suffix}-{version.lower()}.json"


def strict(node):
    """Returns a copy of an OpenAPI schema node as a strict draft-4 JSON schema node."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    out = {}
    for key, value in node.items():
        if key in DROPPED_KEYWORDS or key == "x-kubernetes-preserve-unknown-fields":
            continue
        if key == "properties":
            out[key] = {name: strict(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = strict(value)
        elif key == "x-kubernetes-int-or-string" and value is True:
            out["type"] = ["string", "integer"]
        elif key == "$ref":
            out[key] = value
        else:
            out[key] = value
    if "x-kubernetes-int-or-string" in out:
        del out["x-kubernetes-int-or-string"]
    if out.get("nullable") is True:
        del out["nullable"]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
    elif "nullable" in out:
        del out["nullable"]
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def refs_in(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref[len("#/definitions/"):])
        for value in node.values():
            refs_in(value, found)
    elif isinstance(node, list):
        for value in node:
            refs_in(value, found)


def pin_gvk(schema, group, version, kind):
    props = schema.setdefault("properties", {})
    api_version = f"{group}/{version}" if group else version
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [kind]}
    return schema


def write(out_dir, k8s_version, name, schema):
    folder = os.path.join(out_dir, f"v{k8s_version.lstrip('v')}-standalone-strict")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path + ".tmp", "w") as f:
        json.dump(schema, f, sort_keys=True, separators=(",", ":"))
    os.replace(path + ".tmp", path)


def from_openapi(swagger_path, k8s_version, out_dir):
    with open(swagger_path) as f:
        definitions = json.load(f).get("definitions", {})
    converted = {name: SPECIAL_DEFINITIONS.get(name) or strict(body) for name, body in definitions.items()}
    count = 0
    for name, body in definitions.items():
        for gvk in body.get("x-kubernetes-group-version-kind", []):
            # Skip list kinds and the "watch event" aliases that share a definition.
            if name.endswith("List") or gvk.get("kind") in ("WatchEvent", "DeleteOptions"):
                continue
            closure, todo = set(), {name}
            while todo:
                current = todo.pop()
                if current in closure:
                    continue
                if current not in converted:
                    raise SchemaError(f"{name}: reference to unknown definition {current}")
                closure.add(current)
                refs_in(converted[current], todo)
            closure.discard(name)
            schema = json.loads(json.dumps(converted[name]))
            schema["definitions"] = {d: converted[d] for d in sorted(closure)}
            pin_gvk(schema, gvk["group"], gvk["version"], gvk["kind"])
            write(out_dir, k8s_version, file_name(gvk["kind"], gvk["group"], gvk["version"]), schema)
            count += 1
    if count == 0:
        raise SchemaError(f"{swagger_path}: no kinds found")
    print(f"{count} Kubernetes kind schemas in {out_dir}", file=sys.stderr)


def from_crds(k8s_version, out_dir, crd_paths):
    count = 0
    for path in crd_paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    body = version.get("schema", {}).get("openAPIV3Schema")
                    if body is None:
                        raise SchemaError(f"{path}: version {version['name']} has no openAPIV3Schema")
                    schema = strict(body)
                    # metadata is checked by the API server as ObjectMeta; keep it an object here.
                    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                    pin_gvk(schema, spec["group"], version["name"], spec["names"]["kind"])
                    write(out_dir, k8s_version, file_name(spec["names"]["kind"], spec["group"], version["name"]), schema)
                    count += 1
    if count == 0:
        raise SchemaError(f"no CustomResourceDefinition versions in {' '.join(crd_paths)}")
    print(f"{count} custom resource schemas in {out_dir}", file=sys.stderr)


def main(argv):
    try:
        if len(argv) == 5 and argv[1] == "openapi":
            from_openapi(argv[2], argv[3], argv[4])
        elif len(argv) >= 5 and argv[1] == "crd":
            from_crds(argv[2], argv[3], argv[4:])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, KeyError, SchemaError, yaml.YAMLError, json.JSONDecodeError) as e:
        print(f"gen-kube-schemas: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
