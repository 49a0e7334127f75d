#!/usr/bin/env bash
# Build a benchmark capture from real sockets: a Python JSON API in a network namespace,
# a keep-alive load generator in another, tcpdump on the veth between them. Needs root.
# The capture is not committed.
# usage: bench/realcap.sh OUT.pcap [MEGABYTES of responses] [CONNECTIONS at once, default 8]
#        [REQUESTS per connection, default 200] [SCALE of response lists, default 1]
set -euo pipefail
out=${1:?usage: realcap.sh OUT.pcap [MB]}
mb=${2:-300}
conns=${3:-8}
per_conn=${4:-200}
scale=${5:-1}
here=$(cd "$(dirname "$0")" && pwd)
ns_s=apitap-bench-srv
ns_c=apitap-bench-cli
cleanup() {
    [[ -n "${dump:-}" ]] && kill "$dump" 2>/dev/null || true
    [[ -n "${srv:-}" ]] && kill "$srv" 2>/dev/null || true
    ip netns del $ns_s 2>/dev/null || true
    ip netns del $ns_c 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add $ns_s
ip netns add $ns_c
ip link add bench-c type veth peer name bench-s
ip link set bench-s netns $ns_s
ip link set bench-c netns $ns_c
ip -n $ns_s addr add 10.77.0.1/24 dev bench-s
ip -n $ns_c addr add 10.77.0.2/24 dev bench-c
for ns in $ns_s $ns_c; do ip -n $ns link set lo up; done
ip -n $ns_s link set bench-s up
ip -n $ns_c link set bench-c up
# Segments as a NIC would put them on the wire (MTU 1500), not 64 KB offload super-frames.
ip netns exec $ns_s ethtool -K bench-s tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec $ns_c ethtool -K bench-c tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec $ns_s python3 "$here/api_server.py" 10.77.0.1 8080 "$scale" &
srv=$!
ip netns exec $ns_s tcpdump -q -i bench-s -s 0 -B 65536 -w "$out" tcp port 8080 2>/dev/null &
dump=$!
sleep 1
ip netns exec $ns_c python3 "$here/api_client.py" 10.77.0.1 8080 "$mb" "$conns" "$per_conn"
sleep 1
kill -INT $dump
wait $dump 2>/dev/null || true
dump=
ls -l "$out"
