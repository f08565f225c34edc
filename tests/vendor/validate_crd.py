"""Validates custom resources against the openAPIV3Schema of their CustomResourceDefinition.

    python3 validate_crd.py OBJECTS.json CRD.yaml...

OBJECTS.json holds a JSON array of objects (ServiceMonitor, PrometheusRule, ...). Each object is
checked against the schema of the CRD version its apiVersion names, as an API server with strict
field validation (kubectl's default) would: an unknown field is an error, like a wrong type or a
missing required field. `nullable` and `x-kubernetes-int-or-string` are honoured;
`x-kubernetes-validations` (CEL rules) are not evaluated. Prints one line per object; exits 0
when all are valid, 1 when one is not, 2 when an object has no CRD here.

Used by tests/packaging/kubernetes.rs; needs the Python packages jsonschema and PyYAML.
"""

import json
import sys

import jsonschema
import yaml


def strict(schema):
    """The schema with unknown fields refused where the API server would prune or refuse them."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


def schemas(crd_paths):
    """(apiVersion, kind) -> (CRD name, openAPIV3Schema) for every served version."""
    found = {}
    for path in crd_paths:
        with open(path, encoding="utf-8") as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    if version.get("served"):
                        key = (spec["group"] + "/" + version["name"], spec["names"]["kind"])
                        found[key] = (
                            crd["metadata"]["name"],
                            strict(version["schema"]["openAPIV3Schema"]),
                        )
    return found


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        objects = json.load(f)
    known = schemas(argv[2:])
    status = 0
    for obj in objects:
        name = "%s/%s" % (obj.get("kind"), obj.get("metadata", {}).get("name"))
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key not in known:
            print("NO CRD %s: no CustomResourceDefinition serves %s %s" % (name, key[0], key[1]))
            status = max(status, 2)
            continue
        crd, schema = known[key]
        validator = jsonschema.Draft4Validator(schema)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        if errors:
            status = max(status, 1)
            for error in errors:
                path = ".".join(str(p) for p in error.absolute_path) or "(top)"
                print("INVALID %s against %s %s: %s: %s" % (name, crd, key[0], path, error.message))
        else:
            print("VALID %s against %s %s" % (name, crd, key[0]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
