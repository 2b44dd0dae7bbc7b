#!/usr/bin/env python3
"""Validate KEDA resources (keda.sh/*) offline against the KEDA CRD schemas.

Usage: validate_keda.py --schemas DIR [--label NAME] FILE|- ...

Every YAML document whose apiVersion is in the keda.sh group is checked
against spec.versions[].schema.openAPIV3Schema of the matching CRD in DIR
(e.g. ../shared/k8s-schemas/keda.sh_scaledobjects.yaml):

- the schema is made strict: every object schema gets
  additionalProperties: false unless it allows unknown fields
  (x-kubernetes-preserve-unknown-fields) or already says what extra keys
  may hold, so a misspelt field fails as it does with a strict API server;
- metadata is checked as a Kubernetes ObjectMeta (the CRD leaves it open);
- int32 fields get their int32 bounds, int-or-string fields accept both;
- then the rules no schema can express: minReplicaCount <= maxReplicaCount
  (KEDA's defaults 0 and 100 when unset), idleReplicaCount < minReplicaCount,
  HPA behaviour bounds, and the rabbitmq trigger metadata (mode, protocol,
  numeric value/activationValue, a queue name, credentials only through a
  TriggerAuthentication).

A keda.sh kind (or version) without a schema in DIR is an error, never a
skip. Documents of other groups are ignored (kubernetes-validate covers the
core kinds). Exits 1 on any problem, 2 on a usage or input error, and prints
one line per validated resource.
"""

import argparse
import copy
import glob
import math
import os
import sys

import jsonschema
import yaml

KEDA_GROUP = "keda.sh"
INT32 = (-(2**31), 2**31 - 1)

# ObjectMeta as a client may write it (the CRD schema only says "object").
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": ["name"]}, {"required": ["generateName"]}],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS1123_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": DNS1123_LABEL},
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE},
        },
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array"},
        "selfLink": {"type": "string"},
    },
}

RABBITMQ_MODES = {"QueueLength", "MessageRate"}
RABBITMQ_PROTOCOLS = {"amqp", "http", "auto"}


def strictify(schema):
    """A copy of an OpenAPI v3 (structural) schema, strict for unknown fields."""
    if isinstance(schema, list):
        return [strictify(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: strictify(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strictify(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strictify(s) for s in value]
        else:
            out[key] = value
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    is_object = schema.get("type") == "object" or "properties" in schema
    if is_object and not preserve and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    if schema.get("x-kubernetes-int-or-string") and "type" not in schema and "anyOf" not in schema:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("format") == "int32" and schema.get("type") == "integer":
        out.setdefault("minimum", INT32[0])
        out.setdefault("maximum", INT32[1])
    if schema.get("nullable") is True and "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        out["type"] = types + ["null"]
    return out


def load_schemas(directory):
    """{(group, version, kind): strict JSON schema} from every CRD in directory."""
    schemas = {}
    paths = sorted(glob.glob(os.path.join(directory, "*.yaml")) + glob.glob(os.path.join(directory, "*.yml")))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                group, kind = spec["group"], spec["names"]["kind"]
                for version in spec.get("versions", []):
                    raw = (version.get("schema") or {}).get("openAPIV3Schema")
                    if raw is None:
                        continue
                    strict = strictify(raw)
                    props = strict.setdefault("properties", {})
                    props["apiVersion"] = {"const": f"{group}/{version['name']}"}
                    props["kind"] = {"const": kind}
                    props["metadata"] = OBJECT_META
                    strict["required"] = sorted(set(strict.get("required", [])) | {"apiVersion", "kind", "metadata"})
                    strict["additionalProperties"] = False
                    schemas[(group, version["name"], kind)] = (strict, os.path.basename(path))
    if not schemas:
        raise SystemExit(f"validate_keda: no CRD schemas found in {directory}")
    return schemas


def is_number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value)


def semantic_errors(doc):
    """What the CRD schema cannot say (types are the schema's business)."""
    errors = []
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "ScaledObject":
        lo = spec.get("minReplicaCount", 0)
        hi = spec.get("maxReplicaCount", 100)
        if lo > hi:
            errors.append(f"spec.minReplicaCount ({lo}) > spec.maxReplicaCount ({hi})")
        idle = spec.get("idleReplicaCount")
        if idle is not None and idle >= lo:
            errors.append(f"spec.idleReplicaCount ({idle}) must be < minReplicaCount ({lo})")
        hpa = ((spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get("behavior") or {}
        for direction in ("scaleUp", "scaleDown"):
            rules = hpa.get(direction) or {}
            window = rules.get("stabilizationWindowSeconds")
            if window is not None and not 0 <= window <= 3600:
                errors.append(f"behavior.{direction}.stabilizationWindowSeconds {window} not in 0..3600")
            if rules.get("selectPolicy") not in (None, "Max", "Min", "Disabled"):
                errors.append(f"behavior.{direction}.selectPolicy {rules['selectPolicy']!r} not Max/Min/Disabled")
            for i, policy in enumerate(rules.get("policies") or []):
                where = f"behavior.{direction}.policies[{i}]"
                if policy.get("type") not in ("Pods", "Percent"):
                    errors.append(f"{where}.type {policy.get('type')!r} not Pods/Percent")
                if not policy.get("value", 0) > 0:
                    errors.append(f"{where}.value must be > 0")
                if not 0 < policy.get("periodSeconds", 0) <= 1800:
                    errors.append(f"{where}.periodSeconds must be in 1..1800")
        for i, trigger in enumerate(spec.get("triggers") or []):
            where = f"spec.triggers[{i}]"
            meta = trigger.get("metadata") or {}
            if trigger.get("type") != "rabbitmq":
                continue
            mode = meta.get("mode")
            if mode not in RABBITMQ_MODES:
                errors.append(f"{where}.metadata.mode {mode!r} not one of {sorted(RABBITMQ_MODES)}")
            protocol = meta.get("protocol", "auto")
            if protocol not in RABBITMQ_PROTOCOLS:
                errors.append(f"{where}.metadata.protocol {protocol!r} not one of {sorted(RABBITMQ_PROTOCOLS)}")
            if not meta.get("queueName"):
                errors.append(f"{where}.metadata.queueName is missing")
            value = meta.get("value")
            if value is None or not is_number(value) or float(value) <= 0:
                errors.append(f"{where}.metadata.value {value!r} must be a positive number (as a string)")
            activation = meta.get("activationValue")
            if activation is not None and (not is_number(activation) or float(activation) < 0):
                errors.append(f"{where}.metadata.activationValue {activation!r} must be a number >= 0")
            if "host" in meta and "@" in meta["host"]:
                errors.append(f"{where}.metadata.host carries credentials: use a TriggerAuthentication")
            if "host" not in meta and "hostFromEnv" not in meta and not trigger.get("authenticationRef"):
                errors.append(f"{where}: no broker host (authenticationRef, host or hostFromEnv)")
    elif kind == "TriggerAuthentication":
        for i, ref in enumerate(spec.get("secretTargetRef") or []):
            for field in ("parameter", "name", "key"):
                if not ref.get(field):
                    errors.append(f"spec.secretTargetRef[{i}].{field} is empty")
    return errors


def schema_errors(validator, doc):
    errors = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        errors.append(f"{path}: {error.message}")
    return errors


def read_documents(name):
    try:
        if name == "-":
            text = sys.stdin.read()
        else:
            with open(name, encoding="utf-8") as f:
                text = f.read()
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise SystemExit(f"validate_keda: cannot read {name}: {exc}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", required=True, help="directory with the KEDA CRD YAML files")
    parser.add_argument("--label", help="name to show for standard input")
    parser.add_argument("--require", type=int, default=0, help="fail unless at least this many keda.sh resources were found")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    schemas = load_schemas(args.schemas)
    validators = {}
    failures = 0
    seen = 0
    for name in args.files:
        shown = args.label if (name == "-" and args.label) else name
        for doc in read_documents(name):
            if not isinstance(doc, dict):
                print(f"FAIL {shown}: a YAML document that is not a mapping")
                failures += 1
                continue
            api_version = str(doc.get("apiVersion", ""))
            group, _, version = api_version.rpartition("/")
            if group != KEDA_GROUP and not (group == "" and version == KEDA_GROUP):
                continue
            seen += 1
            kind = doc.get("kind")
            meta_name = (doc.get("metadata") or {}).get("name", "?") if isinstance(doc.get("metadata"), dict) else "?"
            what = f"{kind}/{meta_name} ({api_version}) in {shown}"
            key = (group, version, kind)
            if key not in schemas:
                known = ", ".join(f"{k[2]} {k[0]}/{k[1]}" for k in sorted(schemas))
                print(f"FAIL {what}: no CRD schema for this kind/version in {args.schemas} (have: {known})")
                failures += 1
                continue
            schema, source = schemas[key]
            if key not in validators:
                jsonschema.Draft7Validator.check_schema(schema)
                validators[key] = jsonschema.Draft7Validator(schema)
            errors = schema_errors(validators[key], doc)
            try:
                errors += semantic_errors(doc)
            except (TypeError, AttributeError, ValueError):
                # Wrong types, already reported by the schema.
                if not errors:
                    raise
            if errors:
                failures += 1
                print(f"FAIL {what}:")
                for e in errors:
                    print(f"       - {e}")
            else:
                print(f"ok   {what}: strict schema ({source}) and checks")
    if seen < args.require:
        print(f"FAIL expected at least {args.require} keda.sh resources in {', '.join(args.files)}, found {seen}")
        failures += 1
    if failures:
        print(f"validate_keda: {failures} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
