#!/usr/bin/env bash
# Checks the deploy files with what this machine has (CI runs it):
# - the systemd unit with `systemd-analyze verify` (ExecStart pointed at the built binary,
#   which must exist for verify to pass);
# - the Kubernetes manifests against the Kubernetes API schemas (PyPI's kubernetes-validate,
#   which ships the schemas, so no cluster and no network is needed);
# - that the arguments the unit, the DaemonSet and the Containerfile give apitap parse.
# The Containerfile is not built here: no container engine runs on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
apitap=$(realpath "${APITAP:-target/debug/apitap}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "deploy: systemd unit"
sed "s|/usr/local/bin/apitap|$apitap|" deploy/systemd/apitap.service > "$work/apitap.service"
# The unit's user need not exist here; verify checks the unit's syntax and directives.
out=$(systemd-analyze verify "$work/apitap.service" 2>&1 || true)
if echo "$out" | grep -v -e 'apitap.service: Failed to resolve user' -e '^$' | grep -q .; then
  echo "$out" >&2
  echo "deploy: systemd-analyze verify found problems" >&2
  exit 1
fi

echo "deploy: kubernetes manifests"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
"$work/venv/bin/kubernetes-validate" --strict --kubernetes-version 1.30.0 \
  deploy/kubernetes/daemonset.yaml

echo "deploy: apitap arguments"
# The unit's command line, with an interface standing in for $APITAP_SOURCE.
unit_args=$(sed -n '/^ExecStart=/,/[^\\]$/p' deploy/systemd/apitap.service |
  sed -e 's/^ExecStart=[^ ]* //' -e 's/\\$//' | tr -s ' \n' ' ' |
  sed 's/\$APITAP_SOURCE/--interface lo/')
# shellcheck disable=SC2086
"$apitap" $unit_args --help >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
# The DaemonSet's and the image's default arguments.
python3 - "$apitap" <<'PY'
import json, re, subprocess, sys
apitap = sys.argv[1]
def check(args, where):
    args = [re.sub(r"\$\(APITAP_IFACE\)", "lo", a) for a in args]
    r = subprocess.run([apitap, *args, "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{where}: {args}: {r.stderr.strip()}")
text = open("deploy/kubernetes/daemonset.yaml").read()
ds = text.split("kind: DaemonSet", 1)[1]
args = re.findall(r"^\s+- (--?[^\n]+|capture)$", ds.split("args:", 1)[1].split("env:", 1)[0], re.M)
check(args, "daemonset")
cmd = re.search(r'^CMD (\[.*?\])$', open("deploy/container/Containerfile").read(), re.M | re.S)
check(json.loads(cmd.group(1).replace("\\\n", "")), "Containerfile CMD")
PY
echo "deploy: ok"
