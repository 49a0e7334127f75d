#!/usr/bin/env python3
"""A flood of distinct slug paths, for the memory and time of learning on hostile input.

usage: slugflood.py OUT.pcap N

N exchanges over 200 keep-alive connections, each to its own random path of 2 to 6 slug
segments (`/kilo-vbdx/alpha-qq/...`) answering a small JSON object: N raw endpoints until
learning folds them. Deterministic. docs/performance.md has the figures:
  python3 bench/slugflood.py /tmp/flood.pcap 100000
  /usr/bin/time -v target/release/apitap replay -q -o /tmp/flood.json /tmp/flood.pcap
"""
import struct, random, sys
rnd = random.Random(3)
out = open(sys.argv[1], 'wb')
n = int(sys.argv[2])
out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
def pkt(src, dst, sp, dp, seq, ack, flags, payload, ts):
    tcp = struct.pack('!HHIIBBHHH', sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    eth = b'\x00\x01\x02\x03\x04\x05\x00\x01\x02\x03\x04\x06\x08\x00' + ip + tcp
    out.write(struct.pack('<IIII', ts // 1000000, ts % 1000000, len(eth), len(eth)) + eth)
words = ['alpha','bravo','charlie','delta','echo','fox','golf','hotel','india','kilo']
c, s = [10,0,0,1], [10,0,0,2]
ts = 1_700_000_000_000_000
conns = 200
per = n // conns
for k in range(conns):
    cs, ss = 1000, 5000
    sp = 20000 + k
    pkt(c, s, sp, 80, cs, 0, 2, b'', ts); ts += 10
    pkt(s, c, 80, sp, ss, cs + 1, 0x12, b'', ts); ts += 10
    cs += 1; ss += 1
    for j in range(per):
        segs = [rnd.choice(words) + '-' + ''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randint(3, 9))) for _ in range(rnd.randint(2, 6))]
        path = '/' + '/'.join(segs)
        req = ('GET %s HTTP/1.1\r\nHost: stress.example\r\n\r\n' % path).encode()
        body = ('{"%s":1,"%s":"x","n":%d}' % (rnd.choice(words), rnd.choice(words), j)).encode()
        resp = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' % len(body) + body
        pkt(c, s, sp, 80, cs, ss, 0x18, req, ts); ts += 10; cs += len(req)
        pkt(s, c, 80, sp, ss, cs, 0x18, resp, ts); ts += 10; ss += len(resp)
