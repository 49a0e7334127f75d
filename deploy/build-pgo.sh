#!/usr/bin/env bash
# A profile-guided release build of apitap: about 15% less CPU per byte than a plain
# `cargo build --release` on the benchmark captures (docs/performance.md, "Profile-guided
# build"). Builds an instrumented binary, replays a training set through it, merges the
# profile and rebuilds with it. The training set is made here, from committed generators
# and fixtures: a synthetic JSON API capture (bench/genbig.py, not the benchmark captures),
# the shipped fixtures, and the demo against its OpenAPI spec.
#
# usage: deploy/build-pgo.sh [TRAINING_MEGABYTES, default 100]
# Output: target/pgo/release/apitap (the plain build in target/release is left alone).
# Needs python3 and llvm-profdata matching rustc's LLVM (`rustup component add llvm-tools`,
# which this script runs when rustup is there). Exits 3 when that cannot be had, 1 on any
# other failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-100}
cd "$root"
die() { local rc=$1; shift; echo "build-pgo: $*" >&2; exit "$rc"; }
command -v python3 > /dev/null || die 1 "python3 is needed to generate the training capture"

host=$(rustc -vV | awk '/^host:/ {print $2}')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [[ ! -x $profdata ]] && command -v rustup > /dev/null; then
    rustup component add llvm-tools > /dev/null 2>&1 || true
fi
[[ -x $profdata ]] ||
    die 3 "no llvm-profdata for this rustc ($profdata): rustup component add llvm-tools"

work=$root/target/pgo-work
rm -rf "$work"
mkdir -p "$work/raw"
trap 'rm -rf "$work"' EXIT

# RUSTFLAGS replaces the rustflags of .cargo/config.toml: they are passed on.
base=$(python3 -c 'import tomllib, sys
print(" ".join(tomllib.load(open(sys.argv[1], "rb"))["build"]["rustflags"]))' .cargo/config.toml)

echo "build-pgo: instrumented build" >&2
RUSTFLAGS="$base -Cprofile-generate=$work/raw" \
    cargo build --release --locked --bin apitap --target-dir target/pgo-gen -q
gen=target/pgo-gen/release/apitap

echo "build-pgo: training on a ${mb} MB synthetic capture and the fixtures" >&2
python3 bench/genbig.py "$work/train.pcap" "$mb" > /dev/null
run() { "$gen" "$@" -q -o "$work/inv.json" --exchanges "$work/ex.jsonl" > /dev/null; }
for threads in 1 2; do
    run replay "$work/train.pcap" --threads "$threads"
done
run replay "$work/train.pcap" --scan all
run replay fixtures/demo/demo.pcap --spec fixtures/demo/shop-openapi.yaml \
    --spec-previous fixtures/demo/shop-openapi-prev.yaml
# Some fixtures are broken on purpose (not-a-capture.pcap): their failure is expected.
for f in fixtures/synth/*.pcap* fixtures/tls/*.pcap; do
    run replay "$f" 2> /dev/null || true
done
"$profdata" merge -o "$work/merged.profdata" "$work/raw"

echo "build-pgo: optimised build" >&2
RUSTFLAGS="$base -Cprofile-use=$work/merged.profdata" \
    cargo build --release --locked --bin apitap --target-dir target/pgo -q
echo "$root/target/pgo/release/apitap"
