#!/usr/bin/env bash
# Live-capture benchmarks on a veth pair in two network namespaces this script creates
# (needs root, tcpreplay, iproute2, python3). The capture is replayed by tcpreplay from one
# namespace and captured by `apitap capture` in the other; nothing leaves the machine.
#
#   bench/live.sh zerodrop CAPTURE.pcap [RATES_MBPS...]
#       For each rate (default: 250 500 1000 2000 4000 topspeed): replay the capture once at
#       that rate and print packets read, kernel drops, and the rate tcpreplay achieved.
#   bench/live.sh soak CAPTURE.pcap MINUTES [RATE_MBPS]
#       Replay the capture in a loop (default 200 Mbit/s) for MINUTES; print apitap's RSS,
#       packets, drops, flows and endpoints every 30 s (from its --metrics endpoint).
#
# Build first: cargo build --release. Environment: APITAP (binary), THREADS (default 2),
# FLUSH (soak: snapshot and fold interval in seconds, default 30).
set -euo pipefail
mode=${1:?usage: bench/live.sh zerodrop|soak CAPTURE ...}
pcap=$(realpath "${2:?capture file}")
shift 2
apitap=$(realpath "${APITAP:-target/release/apitap}")
threads=${THREADS:-2}
ns_s=apitap-bench-s-$$ ns_c=apitap-bench-c-$$
work=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns del "$ns_s" 2>/dev/null || true
  ip netns del "$ns_c" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns_s"
ip netns add "$ns_c"
ip link add lb-s netns "$ns_s" type veth peer name lb-c netns "$ns_c"
for pair in "$ns_s:lb-s" "$ns_c:lb-c"; do
  n=${pair%%:*} dev=${pair##*:}
  ip -n "$n" link set "$dev" up
  ip -n "$n" link set lo up
  ip netns exec "$n" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
done
packets=$(python3 - "$pcap" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
at, n = 24, 0
end = '<' if b[:4] == b'\xd4\xc3\xb2\xa1' or b[:4] == b'\x4d\x3c\xb2\xa1' else '>'
while at + 16 <= len(b):
    at += 16 + struct.unpack(end + 'I', b[at + 8:at + 12])[0]; n += 1
print(n)
PY
)
start_apitap() {
  ip netns exec "$ns_s" "$apitap" capture -i lb-s --bpf tcp --threads "$threads" -q \
    --flush-interval "$1" -o "$work/inv.json" --metrics 127.0.0.1:9099 "${@:2}" \
    2>"$work/apitap.log" &
  pid=$!
  for _ in $(seq 100); do [ -f "$work/inv.json" ] && break; sleep 0.1; done
}
stop_apitap() {
  kill -TERM "$pid"; wait "$pid" || true; pid=
}
stat() { python3 -c "import json,sys; d=json.load(open('$work/inv.json'))['stats']; print($1)"; }

case $mode in
zerodrop)
  rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(250 500 1000 2000 4000 topspeed)
  echo "capture: $pcap ($packets packets, $(du -m "$pcap" | cut -f1) MB), apitap --threads $threads"
  printf '%-10s %10s %10s %10s %10s %10s %10s\n' rate_mbps achieved sent_ok send_fail read kdrop ifdrop
  for r in "${rates[@]}"; do
    start_apitap 1
    if [ "$r" = topspeed ]; then flag=(--topspeed); else flag=(--mbps "$r"); fi
    out=$(ip netns exec "$ns_c" tcpreplay -i lb-c "${flag[@]}" "$pcap" 2>&1)
    achieved=$(echo "$out" | sed -n 's/.*Rated: [0-9.]* Bps, \([0-9.]*\) Mbps.*/\1/p')
    ok=$(echo "$out" | sed -n 's/.*Successful packets: *\([0-9]*\).*/\1/p')
    failed=$(echo "$out" | sed -n 's/.*Failed packets: *\([0-9]*\).*/\1/p')
    sleep 2
    stop_apitap
    read=$(stat "d['packets']"); drop=$(stat "d['capture']['kernel_dropped']")
    ifdrop=$(stat "d['capture']['interface_dropped']")
    printf '%-10s %10s %10s %10s %10s %10s %10s\n' "$r" "$achieved" "$ok" "$failed" "$read" \
      "$drop" "$ifdrop"
  done
  ;;
soak)
  minutes=${1:?minutes}; rate=${2:-200}
  start_apitap "${FLUSH:-30}" --state "$work/state.json"
  ip netns exec "$ns_c" tcpreplay -i lb-c --mbps "$rate" --loop 0 "$pcap" >/dev/null 2>&1 &
  replayer=$!
  echo "soak: $pcap looped at $rate Mbit/s for $minutes min, apitap --threads $threads"
  printf '%6s %10s %14s %10s %8s %10s\n' t_s rss_mb packets kdrop flows endpoints
  end=$((SECONDS + minutes * 60)); t0=$SECONDS
  while [ $SECONDS -lt $end ]; do
    sleep 30
    m=$(ip netns exec "$ns_s" python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9099/metrics').read().decode())")
    get() { echo "$m" | awk -v k="$1" '$1 == k {print $2}'; }
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    printf '%6d %10.1f %14s %10s %8s %10s\n' $((SECONDS - t0)) "$(echo "$rss/1024" | bc -l)" \
      "$(get apitap_packets_total)" "$(get 'apitap_kernel_dropped_total{where="socket"}')" \
      "$(get apitap_flows_active)" "$(get apitap_endpoints)"
  done
  kill "$replayer" 2>/dev/null || true
  stop_apitap
  echo "final: $(stat "f\"{d['packets']} packets, {d['exchanges']} exchanges, {d['endpoints']} endpoints, dropped {d['dropped']}\"")"
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
