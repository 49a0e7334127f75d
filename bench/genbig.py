#!/usr/bin/env python3
"""Writes a large synthetic HTTP/1.1 JSON capture for throughput measurements (not committed).

usage: genbig.py OUT.pcap [MEGABYTES]

Many keep-alive connections from many clients to a few servers, requests over a realistic
API surface (ids, UUIDs, query strings), JSON responses of 200 B to 20 KB split at MSS 1448,
with ACKs, handshakes and FINs, interleaved across connections. Deterministic (seeded).
"""
import random
import struct
import sys

out, mb = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
rnd = random.Random(1)
MSS = 1448
PATHS = ["/api/v1/users/%d", "/api/v1/users/%d/orders", "/api/v2/orders/3f2b8c1e-9d4a-4b7e-8f00-%012d",
         "/api/v1/products/prd_%08d", "/api/v1/search?q=item%d&page=2", "/api/v1/carts/%d/items", "/health"]


def ip4(a):
    return bytes(a)


def frame(src, dst, sp, dp, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + payload


def body(n, i):
    items = ",".join('{"id":%d,"name":"item %d","email":"user%d@example.com","price":%d.99}' % (i + k, k, i + k, k) for k in range(n))
    return ('{"items":[%s],"total":%d}' % (items, n)).encode()


class Conn:
    def __init__(self, idx):
        self.c = ip4([10, 1, (idx >> 8) & 255, idx & 255])
        self.s = ip4([10, 2, 0, idx % 4 + 1])
        self.cp, self.sp = 20000 + idx % 40000, 80
        self.cs, self.ss = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
        self.left = rnd.randint(5, 60)
        self.state = 0

    def step(self):
        """Frames of the next step of this connection, or None when it is over."""
        c, s = self.c, self.s
        if self.state == 0:
            self.state = 1
            f = [frame(c, s, self.cp, self.sp, self.cs, 0, 0x02, b""), frame(s, c, self.sp, self.cp, self.ss, self.cs + 1, 0x12, b""),
                 frame(c, s, self.cp, self.sp, self.cs + 1, self.ss + 1, 0x10, b"")]
            self.cs += 1
            self.ss += 1
            return f
        if self.left == 0:
            if self.state == 2:
                return None
            self.state = 2
            return [frame(c, s, self.cp, self.sp, self.cs, self.ss, 0x11, b""), frame(s, c, self.sp, self.cp, self.ss, self.cs + 1, 0x11, b""),
                    frame(c, s, self.cp, self.sp, self.cs + 1, self.ss + 1, 0x10, b"")]
        self.left -= 1
        n = rnd.randint(0, 10**6)
        path = rnd.choice(PATHS)
        path = path % n if "%" in path else path
        req = ("GET %s HTTP/1.1\r\nHost: api%d.example.com\r\nUser-Agent: bench\r\nAuthorization: Bearer abc.def.ghi\r\nAccept: application/json\r\n\r\n" % (path, self.sp % 3)).encode()
        b = body(rnd.choice([1, 2, 5, 10, 40, 100]), n)
        resp = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(b) + b
        f = [frame(c, s, self.cp, self.sp, self.cs, self.ss, 0x18, req)]
        self.cs += len(req)
        for i in range(0, len(resp), MSS):
            seg = resp[i:i + MSS]
            f.append(frame(s, c, self.sp, self.cp, self.ss, self.cs, 0x18 if i + MSS >= len(resp) else 0x10, seg))
            self.ss += len(seg)
            if (i // MSS) % 2 == 1:
                f.append(frame(c, s, self.cp, self.sp, self.cs, self.ss, 0x10, b""))
        f.append(frame(c, s, self.cp, self.sp, self.cs, self.ss, 0x10, b""))
        return f


with open(out, "wb") as fh:
    fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    total, t, nxt = 0, 1700000000.0, 0
    live = [Conn(i) for i in range(200)]
    nxt = 200
    while total < mb * 1_000_000:
        k = rnd.randrange(len(live))
        fr = live[k].step()
        if fr is None:
            live[k] = Conn(nxt)
            nxt += 1
            continue
        for x in fr:
            t += 0.00001
            sec = int(t)
            fh.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(x), len(x)) + x)
            total += 16 + len(x)
print("wrote", out, total, "bytes,", nxt, "connections")
