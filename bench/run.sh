#!/usr/bin/env bash
# Throughput of apitap against tcpdump (the floor: reads, parses nothing) and tshark (a
# full dissector) on one capture, all with /usr/bin/time -v, file in page cache.
# usage: bench/run.sh CAPTURE [--no-tshark]
# Prints MB/s, packets/s, exchanges/s, peak RSS and the ratios the performance goal is
# stated in. When deploy/build-pgo.sh has built target/pgo/release/apitap, the
# profile-guided binary is measured too, in the same run.
set -euo pipefail
cap=${1:?usage: run.sh CAPTURE [--no-tshark]}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/apitap
[[ -x $bin ]] || (cd "$root" && cargo build --release -q)
pgo=$root/target/pgo/release/apitap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mb=$(python3 -c "import os,sys; print(os.path.getsize(sys.argv[1]) / 1e6)" "$cap")
cat "$cap" > /dev/null   # page cache

measure() { # name, command...
    local name=$1; shift
    /usr/bin/time -v "$@" > /dev/null 2> "$tmp/$name.time" || { tail -3 "$tmp/$name.time"; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tmp/$name.time")
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$tmp/$name.time")
    echo "$name $wall $rss" >> "$tmp/results"
}

measure tcpdump tcpdump -r "$cap" -w /dev/null
measure apitap-1 "$bin" replay "$cap" --threads 1 -q -o "$tmp/inv1.json" --exchanges "$tmp/ex1.jsonl"
measure apitap-2 "$bin" replay "$cap" --threads 2 -q -o "$tmp/inv2.json" --exchanges "$tmp/ex2.jsonl"
measure apitap-2-scan-all "$bin" replay "$cap" --threads 2 --scan all -q -o "$tmp/inv3.json"
if [[ -x $pgo ]]; then
    measure apitap-pgo-1 "$pgo" replay "$cap" --threads 1 -q -o "$tmp/inv4.json" --exchanges "$tmp/ex4.jsonl"
    measure apitap-pgo-2 "$pgo" replay "$cap" --threads 2 -q -o "$tmp/inv5.json" --exchanges "$tmp/ex5.jsonl"
fi
if [[ "${2:-}" != "--no-tshark" ]] && command -v tshark > /dev/null; then
    measure tshark tshark -r "$cap" -n -Y http
fi
ex=$(wc -l < "$tmp/ex1.jsonl")
pk=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stats']['capture']['records'])" "$tmp/inv1.json")
python3 - "$tmp/results" "$mb" "$ex" "$pk" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
mb, ex, pk = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = {r[0]: (float(r[1]), int(r[2])) for r in rows}
print(f"capture: {mb:.1f} MB, {pk} packets, {ex} HTTP exchanges")
print(f"{'tool':<20}{'wall s':>8}{'MB/s':>9}{'pkts/s':>11}{'exch/s':>11}{'peak RSS MB':>13}")
for name, (wall, rss) in t.items():
    print(f"{name:<20}{wall:>8.2f}{mb / wall:>9.1f}{pk / wall:>11.0f}{ex / wall:>11.0f}{rss / 1024:>13.1f}")
td = t["tcpdump"][0]
apitaps = [n for n in t if n.startswith("apitap")]
for name in apitaps:
    print(f"{name} / tcpdump rate: {td / t[name][0]:.3f}")
for build in ("apitap", "apitap-pgo"):
    if f"{build}-2" in t:
        print(f"{build} 2 threads / 1 thread: {t[build + '-1'][0] / t[build + '-2'][0]:.2f}x")
if "tshark" in t:
    for name in apitaps:
        print(f"{name} / tshark rate: {t['tshark'][0] / t[name][0]:.1f}x")
PY
