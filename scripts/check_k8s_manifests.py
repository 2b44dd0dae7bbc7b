#!/usr/bin/env python3
"""Project rules for the rendered mailsift manifests (what no schema knows).

Usage:
  check_k8s_manifests.py --repo ROOT --label NAME [--region us] [--prefix us.]
                         [--name-prefix P --name-suffix S --allow-secret] FILE|-
  check_k8s_manifests.py --repo ROOT --example-secret FILE[:REGION] ...

On a rendered kustomization (FILE, or - for standard input) it checks:
- every Deployment: non-root uid 65532, runAsNonRoot, readOnlyRootFilesystem,
  allowPrivilegeEscalation false, capabilities drop ALL, not privileged,
  seccomp RuntimeDefault, automountServiceAccountToken false, an emptyDir at
  /tmp, probes (/healthz, /readyz on port http = 9090), prometheus
  annotations, the broker URL from Secret key `url`, MAILSIFT_THREADS = the
  CPU limit, terminationGracePeriodSeconds > preStop sleep + drain, no
  spec.replicas when KEDA scales it, the rules ConfigMap mounted whole
  (no subPath) where MAILSIFT_RULES points;
- the rules ConfigMap has its stable name (no hash suffix), holds exactly the
  files of rules/ with the same bytes; rabbitmq-definitions likewise holds
  k8s/rabbitmq-definitions.json;
- the ScaledObject targets a Deployment and a TriggerAuthentication of the
  same render, watches MAILSIFT_NAME_PREFIX + "mailsift.in", has
  minReplicaCount >= 1 and value >= prefetch;
- PDB and NetworkPolicy select the worker pods; the NetworkPolicy opens only
  9090 in and 5672/5671/53 out;
- no Secret in the render (unless --allow-secret) and no credentials but the
  CHANGE-ME placeholder anywhere;
- with --region: the region label everywhere and the mailsift-REGION namespace.

With --example-secret it checks the example Secret files: placeholders only,
url == host, and each region's broker host.
Exits 1 on any problem and prints what it checked.
"""

import argparse
import base64
import os
import re
import sys

import yaml

INPUT_QUEUE = "mailsift.in"
WORKER_UID = 65532
HTTP_PORT = 9090
PLACEHOLDER = "CHANGE-ME"
NAMESPACED_EXEMPT = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
URL_CREDENTIALS = re.compile(r"amqps?://([^:/@\s\"']+):([^@\s\"']*)@")
HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


class Report:
    def __init__(self):
        self.problems = []
        self.checked = []

    def fail(self, where, message):
        self.problems.append(f"{where}: {message}")

    def mark(self):
        return len(self.problems)

    def ok(self, message, since=None):
        """Record a passed check, unless a problem was found after `since`."""
        if since is None or len(self.problems) == since:
            self.checked.append(message)


def cpu_cores(quantity):
    text = str(quantity)
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    return float(text)


def memory_bytes(quantity):
    text = str(quantity)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def effective(container_sc, pod_sc, key):
    if key in container_sc:
        return container_sc[key]
    return pod_sc.get(key)


def env_map(container):
    return {e["name"]: e for e in container.get("env") or []}


def pod_labels_match(selector, labels):
    wanted = (selector or {}).get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def check_deployment(rep, dep, ctx):
    name = dep["metadata"]["name"]
    where = f"Deployment/{name}"
    start = rep.mark()
    spec = dep.get("spec") or {}
    tmpl = spec.get("template") or {}
    pod = tmpl.get("spec") or {}
    psc = pod.get("securityContext") or {}
    annotations = (tmpl.get("metadata") or {}).get("annotations") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}

    if not pod_labels_match(spec.get("selector"), labels):
        rep.fail(where, "selector does not match the pod template labels")
    for key in ("app.kubernetes.io/name", "app.kubernetes.io/component"):
        if key not in labels:
            rep.fail(where, f"pod template lacks label {key}")
    if pod.get("automountServiceAccountToken") is not False:
        rep.fail(where, "pod spec must set automountServiceAccountToken: false")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            rep.fail(where, f"{flag} must not be set")
    if name in ctx["scaled_targets"] and "replicas" in spec:
        rep.fail(where, "spec.replicas is set although a ScaledObject owns the replica count")
    if annotations.get("prometheus.io/scrape") != "true":
        rep.fail(where, 'pod annotation prometheus.io/scrape must be "true"')
    if annotations.get("prometheus.io/port") != str(HTTP_PORT):
        rep.fail(where, f'pod annotation prometheus.io/port must be "{HTTP_PORT}"')
    if annotations.get("prometheus.io/path") != "/metrics":
        rep.fail(where, "pod annotation prometheus.io/path must be /metrics")

    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
    if not pod.get("containers"):
        rep.fail(where, "no containers")
        return
    for c in containers:
        cwhere = f"{where} container {c.get('name')}"
        csc = c.get("securityContext") or {}
        if effective(csc, psc, "runAsNonRoot") is not True:
            rep.fail(cwhere, "runAsNonRoot must be true")
        if effective(csc, psc, "runAsUser") != WORKER_UID:
            rep.fail(cwhere, f"runAsUser must be {WORKER_UID}")
        if csc.get("allowPrivilegeEscalation") is not False:
            rep.fail(cwhere, "allowPrivilegeEscalation must be false")
        if csc.get("readOnlyRootFilesystem") is not True:
            rep.fail(cwhere, "readOnlyRootFilesystem must be true")
        if csc.get("privileged"):
            rep.fail(cwhere, "privileged must not be true")
        caps = csc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            rep.fail(cwhere, "capabilities.drop must contain ALL")
        if caps.get("add"):
            rep.fail(cwhere, f"capabilities.add must be empty, not {caps['add']}")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            rep.fail(cwhere, f"seccompProfile must be RuntimeDefault (is {seccomp!r})")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
        tmp = mounts.get("/tmp")
        if not tmp or "emptyDir" not in volumes.get(tmp["name"], {}):
            rep.fail(cwhere, "needs an emptyDir mounted at /tmp (the root filesystem is read-only)")

    worker = next((c for c in pod["containers"] if "worker" in (c.get("args") or [])), None)
    if worker is None:
        rep.fail(where, "no container runs `mailsift worker` (args: [worker])")
        return
    cwhere = f"{where} container {worker.get('name')}"
    env = env_map(worker)
    ports = {p.get("name"): p for p in worker.get("ports") or []}
    if ports.get("http", {}).get("containerPort") != HTTP_PORT:
        rep.fail(cwhere, f"needs a port named http = {HTTP_PORT}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (worker.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or get.get("port") not in ("http", HTTP_PORT):
            rep.fail(cwhere, f"{probe} must GET {path} on port http ({HTTP_PORT})")

    def value(var):
        return (env.get(var) or {}).get("value")

    required = ["MAILSIFT_AMQP_URL", "MAILSIFT_RULES", "MAILSIFT_HTTP_ADDR", "MAILSIFT_PREFETCH",
                "MAILSIFT_THREADS", "MAILSIFT_GRACE_SECONDS", "MAILSIFT_LOG_FORMAT", "MAILSIFT_NAME_PREFIX"]
    for var in required:
        if var not in env:
            rep.fail(cwhere, f"env {var} is missing")
    secret_ref = ((env.get("MAILSIFT_AMQP_URL") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
    if secret_ref.get("name") != ctx["secret_name"] or secret_ref.get("key") != "url":
        rep.fail(cwhere, f"MAILSIFT_AMQP_URL must come from Secret {ctx['secret_name']} key url (is {secret_ref})")
    if not str(value("MAILSIFT_HTTP_ADDR") or "").endswith(f":{HTTP_PORT}"):
        rep.fail(cwhere, f"MAILSIFT_HTTP_ADDR must listen on port {HTTP_PORT}")
    if value("MAILSIFT_LOG_FORMAT") != "json":
        rep.fail(cwhere, "MAILSIFT_LOG_FORMAT must be json")
    prefix = value("MAILSIFT_NAME_PREFIX")
    if prefix is None:
        prefix = ""
    if ctx["prefix"] is not None and prefix != ctx["prefix"]:
        rep.fail(cwhere, f"MAILSIFT_NAME_PREFIX is {prefix!r}, expected {ctx['prefix']!r}")
    ctx["deployments"][name] = {"prefix": prefix}
    try:
        prefetch = int(value("MAILSIFT_PREFETCH"))
        ctx["deployments"][name]["prefetch"] = prefetch
    except (TypeError, ValueError):
        rep.fail(cwhere, "MAILSIFT_PREFETCH must be an integer")

    resources = worker.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    for kind in ("cpu", "memory"):
        if kind not in limits or kind not in requests:
            rep.fail(cwhere, f"resources.requests and resources.limits need {kind}")
    if "cpu" in limits and "cpu" in requests and cpu_cores(requests["cpu"]) > cpu_cores(limits["cpu"]):
        rep.fail(cwhere, "cpu request above its limit")
    if "memory" in limits and "memory" in requests and memory_bytes(requests["memory"]) > memory_bytes(limits["memory"]):
        rep.fail(cwhere, "memory request above its limit")
    threads = env.get("MAILSIFT_THREADS") or {}
    field = (threads.get("valueFrom") or {}).get("resourceFieldRef")
    if field:
        if field.get("resource") != "limits.cpu" or field.get("containerName", worker["name"]) != worker["name"] \
                or str(field.get("divisor", "1")) != "1":
            rep.fail(cwhere, "MAILSIFT_THREADS must be this container's limits.cpu (divisor 1)")
        if "cpu" not in limits:
            rep.fail(cwhere, "MAILSIFT_THREADS reads limits.cpu, but there is no CPU limit")
    elif "value" in threads and "cpu" in limits:
        if str(threads["value"]) != str(int(-(-cpu_cores(limits["cpu"]) // 1))):
            rep.fail(cwhere, f"MAILSIFT_THREADS {threads['value']} differs from the CPU limit {limits['cpu']}")

    try:
        grace = int(value("MAILSIFT_GRACE_SECONDS"))
    except (TypeError, ValueError):
        rep.fail(cwhere, "MAILSIFT_GRACE_SECONDS must be an integer")
        grace = None
    pre_stop = ((worker.get("lifecycle") or {}).get("preStop")) or {}
    if not pre_stop:
        rep.fail(cwhere, "needs a preStop hook (a short sleep before SIGTERM)")
    sleep = (pre_stop.get("sleep") or {}).get("seconds", 0)
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    if grace is not None and not tgps > sleep + grace:
        rep.fail(where, f"terminationGracePeriodSeconds {tgps} must exceed preStop sleep {sleep} s + drain {grace} s")

    rules_path = value("MAILSIFT_RULES")
    rules_mount = next((m for m in worker.get("volumeMounts") or [] if m["mountPath"] == rules_path), None)
    if rules_mount is None:
        rep.fail(cwhere, f"nothing is mounted at MAILSIFT_RULES ({rules_path})")
    else:
        if "subPath" in rules_mount or "subPathExpr" in rules_mount:
            rep.fail(cwhere, "the rules ConfigMap must be mounted whole: a subPath never sees updates")
        cm = (volumes.get(rules_mount["name"]) or {}).get("configMap", {}).get("name")
        if cm != ctx["rules_cm"]:
            rep.fail(cwhere, f"rules volume uses ConfigMap {cm!r}, expected the stable name {ctx['rules_cm']!r}")
        elif cm not in ctx["configmaps"]:
            rep.fail(cwhere, f"rules ConfigMap {cm!r} is not in the render")
    rep.ok(f"{where}: security context, probes, env, resources, shutdown timing, rules mount", start)


def check_configmap_files(rep, cm, directory, expect_names, label):
    where = f"ConfigMap/{cm['metadata']['name']}"
    data = dict(cm.get("data") or {})
    for key, b64 in (cm.get("binaryData") or {}).items():
        data[key] = base64.b64decode(b64)
    for key, rel in expect_names.items():
        path = os.path.join(directory, rel)
        with open(path, "rb") as f:
            want = f.read()
        got = data.get(key)
        got_bytes = got.encode("utf-8") if isinstance(got, str) else got
        if got is None:
            rep.fail(where, f"missing key {key} ({label}{rel})")
        elif got_bytes != want:
            rep.fail(where, f"key {key} differs from {label}{rel}")
    extra = sorted(set(data) - set(expect_names))
    if extra:
        rep.fail(where, f"keys with no file in {label}: {extra}")


def check_render(args, docs, rep):
    p, s = args.name_prefix, args.name_suffix
    ctx = {
        "prefix": args.prefix,
        "secret_name": f"{p}mailsift-amqp{s}",
        "rules_cm": f"{p}mailsift-rules{s}",
        "defs_cm": f"{p}rabbitmq-definitions{s}",
        "deployments": {},
        "configmaps": {},
        "scaled_targets": set(),
    }
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    for cm in by_kind.get("ConfigMap", []):
        ctx["configmaps"][cm["metadata"]["name"]] = cm
    for so in by_kind.get("ScaledObject", []):
        ctx["scaled_targets"].add(((so.get("spec") or {}).get("scaleTargetRef") or {}).get("name"))

    for kind in ("Deployment", "ScaledObject", "TriggerAuthentication", "PodDisruptionBudget",
                 "NetworkPolicy", "ServiceAccount", "ConfigMap"):
        if not by_kind.get(kind):
            rep.fail(args.label, f"the render has no {kind}")

    for dep in by_kind.get("Deployment", []):
        check_deployment(rep, dep, ctx)
    worker_labels = {}
    for dep in by_kind.get("Deployment", []):
        worker_labels = ((dep["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}

    # ConfigMaps: stable names, contents equal to the repository's files.
    repo = args.repo
    rules_dir = os.path.join(repo, "rules")
    rule_files = sorted(f for f in os.listdir(rules_dir)
                        if not f.startswith(".") and os.path.isfile(os.path.join(rules_dir, f)))
    for cm_name in ctx["configmaps"]:
        if HASH_SUFFIX.search(cm_name) and cm_name not in (ctx["rules_cm"], ctx["defs_cm"]):
            rep.fail(f"ConfigMap/{cm_name}", "name looks hash-suffixed; mailsift ConfigMaps need stable names")
    rules_cm = ctx["configmaps"].get(ctx["rules_cm"])
    if rules_cm is None:
        hashed = [n for n in ctx["configmaps"] if n.startswith(ctx["rules_cm"])]
        rep.fail(args.label, f"no ConfigMap named exactly {ctx['rules_cm']!r}"
                 + (f" (found {hashed}: a name hash suffix breaks in-place rules updates)" if hashed else ""))
    else:
        start = rep.mark()
        check_configmap_files(rep, rules_cm, rules_dir, {f: f for f in rule_files}, "rules/")
        rep.ok(f"ConfigMap/{ctx['rules_cm']}: stable name, exactly rules/ ({', '.join(rule_files)})", start)
    defs_cm = ctx["configmaps"].get(ctx["defs_cm"])
    if defs_cm is None:
        rep.fail(args.label, f"no ConfigMap named exactly {ctx['defs_cm']!r}")
    else:
        start = rep.mark()
        # An overlay ships its region's own (prefixed) topology.
        defs_rel = next(
            (rel for rel in (os.path.join("k8s", args.label), os.path.join("k8s", "overlays", args.label))
             if os.path.isfile(os.path.join(repo, rel, "rabbitmq-definitions.json"))),
            "k8s")
        check_configmap_files(rep, defs_cm, os.path.join(repo, defs_rel),
                              {"definitions.json": "rabbitmq-definitions.json"}, defs_rel + "/")
        rep.ok(f"ConfigMap/{ctx['defs_cm']}: stable name, same as {defs_rel}/rabbitmq-definitions.json", start)

    # KEDA cross-references.
    auths = {t["metadata"]["name"]: t for t in by_kind.get("TriggerAuthentication", [])}
    for so in by_kind.get("ScaledObject", []):
        where = f"ScaledObject/{so['metadata']['name']}"
        start = rep.mark()
        spec = so.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        dep = ctx["deployments"].get(target.get("name"))
        if target.get("kind", "Deployment") != "Deployment" or dep is None:
            rep.fail(where, f"scaleTargetRef {target} names no Deployment of this render")
            dep = {}
        if spec.get("minReplicaCount", 0) < 1:
            rep.fail(where, "minReplicaCount must be >= 1: KEDA's AMQP mode does not see unacked messages")
        for i, trig in enumerate(spec.get("triggers") or []):
            meta = trig.get("metadata") or {}
            auth = (trig.get("authenticationRef") or {}).get("name")
            if auth not in auths:
                rep.fail(where, f"triggers[{i}].authenticationRef {auth!r} names no TriggerAuthentication of this render")
            if trig.get("type") != "rabbitmq":
                continue
            want_queue = dep.get("prefix", ctx["prefix"] or "") + INPUT_QUEUE
            if meta.get("queueName") != want_queue:
                rep.fail(where, f"triggers[{i}].queueName {meta.get('queueName')!r} but the workers consume {want_queue!r}")
            try:
                if "prefetch" in dep and float(meta.get("value")) < dep["prefetch"]:
                    rep.fail(where, f"triggers[{i}].value {meta.get('value')} below the prefetch {dep['prefetch']}")
            except (TypeError, ValueError):
                rep.fail(where, f"triggers[{i}].value is not a number")
        rep.ok(f"{where}: targets {target.get('name')}, watches {[(t.get('metadata') or {}).get('queueName') for t in spec.get('triggers') or []]}, references resolve", start)
    for name, ta in auths.items():
        refs = (ta.get("spec") or {}).get("secretTargetRef") or []
        if not any(r.get("parameter") == "host" and r.get("name") == ctx["secret_name"] and r.get("key") == "host"
                   for r in refs):
            rep.fail(f"TriggerAuthentication/{name}", f"needs parameter host from Secret {ctx['secret_name']} key host")

    for pdb in by_kind.get("PodDisruptionBudget", []):
        where = f"PodDisruptionBudget/{pdb['metadata']['name']}"
        start = rep.mark()
        spec = pdb.get("spec") or {}
        if not pod_labels_match(spec.get("selector"), worker_labels):
            rep.fail(where, "selector does not select the worker pods")
        if spec.get("maxUnavailable") != 1:
            rep.fail(where, "maxUnavailable must be 1")
        rep.ok(f"{where}: selects the workers, maxUnavailable 1", start)
    for np in by_kind.get("NetworkPolicy", []):
        where = f"NetworkPolicy/{np['metadata']['name']}"
        start = rep.mark()
        spec = np.get("spec") or {}
        if not pod_labels_match(spec.get("podSelector"), worker_labels):
            rep.fail(where, "podSelector does not select the worker pods")
        if set(spec.get("policyTypes") or []) != {"Ingress", "Egress"}:
            rep.fail(where, "policyTypes must be Ingress and Egress")
        for rule in spec.get("ingress") or []:
            ports = rule.get("ports") or []
            if not ports or any(p.get("port") not in (HTTP_PORT, "http") for p in ports):
                rep.fail(where, f"ingress may open only port {HTTP_PORT}")
        for rule in spec.get("egress") or []:
            ports = rule.get("ports") or []
            if not rule.get("to"):
                rep.fail(where, "an egress rule without `to` allows every destination")
            allowed = {(5672, "TCP"), (5671, "TCP"), (53, "UDP"), (53, "TCP")}
            if not ports or any((p.get("port"), p.get("protocol", "TCP")) not in allowed for p in ports):
                rep.fail(where, "egress may open only TCP 5672/5671 and UDP/TCP 53")
        rep.ok(f"{where}: workers, in {HTTP_PORT} only, out AMQP and DNS only", start)

    secrets = by_kind.get("Secret", [])
    if secrets and not args.allow_secret:
        rep.fail(args.label, "the render contains a Secret: applying it would overwrite the live credentials")
    for sec in secrets:
        check_secret_placeholders(rep, sec, f"Secret/{sec['metadata']['name']}", None)

    # Region label and namespace.
    start = rep.mark()
    for d in docs:
        meta = d.get("metadata") or {}
        where = f"{d.get('kind')}/{meta.get('name')}"
        if args.region:
            if (meta.get("labels") or {}).get("region") != args.region:
                rep.fail(where, f"label region={args.region} missing")
            if d.get("kind") not in NAMESPACED_EXEMPT and meta.get("namespace") != f"mailsift-{args.region}":
                rep.fail(where, f"namespace must be mailsift-{args.region}")
        elif "namespace" in meta:
            rep.fail(where, "the base must not set a namespace")
    if args.region:
        for dep in by_kind.get("Deployment", []):
            if worker_labels.get("region") != args.region:
                rep.fail(f"Deployment/{dep['metadata']['name']}", f"pod template lacks label region={args.region}")
        if not any(n["metadata"]["name"] == f"mailsift-{args.region}" for n in by_kind.get("Namespace", [])):
            rep.fail(args.label, f"no Namespace mailsift-{args.region}")
        rep.ok(f"every resource labelled region={args.region}, namespace mailsift-{args.region}", start)


def check_secret_placeholders(rep, sec, where, region):
    data = sec.get("stringData") or {}
    if sec.get("data"):
        rep.fail(where, "use stringData placeholders, not data")
    for key in ("url", "host"):
        if key not in data:
            rep.fail(where, f"stringData.{key} missing")
    if data.get("url") != data.get("host"):
        rep.fail(where, "url and host must be the same broker URL")
    for key, val in data.items():
        m = URL_CREDENTIALS.search(str(val))
        if not m or m.group(2) != PLACEHOLDER:
            rep.fail(where, f"stringData.{key} must carry the {PLACEHOLDER} placeholder password, nothing real")
        if region is not None:
            host = f"@rabbitmq.rabbitmq-{region}.svc:" if region else "@rabbitmq.rabbitmq.svc:"
            if host not in str(val):
                rep.fail(where, f"stringData.{key} must point at {host.strip('@:')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--label", default="render")
    parser.add_argument("--region")
    parser.add_argument("--prefix", help="expected MAILSIFT_NAME_PREFIX")
    parser.add_argument("--name-prefix", default="")
    parser.add_argument("--name-suffix", default="")
    parser.add_argument("--allow-secret", action="store_true")
    parser.add_argument("--example-secret", action="append", default=[], metavar="FILE[:REGION]")
    parser.add_argument("file", nargs="?")
    args = parser.parse_args()

    rep = Report()
    if args.file:
        text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
        for m in URL_CREDENTIALS.finditer(text):
            if m.group(2) != PLACEHOLDER:
                rep.fail(args.label, f"a broker URL with a real-looking password for user {m.group(1)!r}")
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        check_render(args, docs, rep)
    for spec in args.example_secret:
        path, _, region = spec.partition(":")
        docs = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
        if len(docs) != 1 or docs[0].get("kind") != "Secret" or docs[0]["metadata"].get("name") != "mailsift-amqp":
            rep.fail(path, "must hold exactly one Secret named mailsift-amqp")
            continue
        ns = docs[0]["metadata"].get("namespace")
        if region and ns != f"mailsift-{region}":
            rep.fail(path, f"namespace must be mailsift-{region}")
        start = rep.mark()
        check_secret_placeholders(rep, docs[0], path, region)
        rep.ok(f"{path}: placeholders only, broker {'rabbitmq.rabbitmq-' + region if region else 'rabbitmq.rabbitmq'}.svc", start)

    for line in rep.checked:
        print(f"ok   {args.label}: {line}" if args.file else f"ok   {line}")
    for line in rep.problems:
        print(f"FAIL {line}")
    if rep.problems:
        print(f"check_k8s_manifests: {len(rep.problems)} problem(s) in {args.label}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
