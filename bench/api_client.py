#!/usr/bin/env python3
"""Load for bench/realcap.sh: THREADS keep-alive connections (reopened every REQUESTS requests, default 200)
asking for many distinct paths until BYTES of responses were read. Seeded.
usage: api_client.py HOST PORT MEGABYTES [THREADS] [REQUESTS per connection, default 200]"""
import http.client
import random
import sys
import threading

host, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 8
per_conn = int(sys.argv[5]) if len(sys.argv) > 5 else 200
budget = mb << 20
lock = threading.Lock()
read = 0
PATHS = ["/api/v1/users/{n}", "/api/v1/users/{n}/orders", "/api/v2/orders/3f2b8c1e-9d4a-4b7e-8f00-{n:012d}",
         "/api/v1/products/prd_{n:08d}", "/api/v1/search?q=item{n}&page=2", "/api/v1/carts/{n}/items",
         "/api/v1/teams/{slug}/members", "/health"]
SLUGS = ["platform", "payments", "growth", "search", "identity", "billing", "mobile", "data"]


def run(seed):
    global read
    rnd = random.Random(seed)
    while True:
        c = http.client.HTTPConnection(host, port)
        for _ in range(per_conn):
            p = rnd.choice(PATHS).format(n=rnd.randrange(1, 10**6), slug=rnd.choice(SLUGS))
            c.request("GET", p, headers={"Authorization": "Bearer " + "tok%08d" % rnd.randrange(10**8)})
            n = len(c.getresponse().read())
            with lock:
                read += n
                if read >= budget:
                    c.close()
                    return
        c.close()


ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
