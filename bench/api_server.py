#!/usr/bin/env python3
"""A small JSON API (HTTP/1.1 keep-alive) for bench/realcap.sh: users, orders, products,
search and carts, with ids, slugs and UUIDs in paths and realistic personal fields in the
responses (deterministic per path). usage: api_server.py ADDR PORT [SCALE]: SCALE (default 1)
multiplies the length of every list in a response."""
import hashlib
import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCALE = int(sys.argv[3]) if len(sys.argv) > 3 else 1
FIRST = ["Ana", "Bram", "Chloe", "Dev", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jana"]
LAST = ["Novak", "Okafor", "Peters", "Quinn", "Rossi", "Sato", "Tanaka", "Ueda", "Varga", "Weber"]


def person(n):
    f, l = FIRST[n % 10], LAST[(n // 10) % 10]
    return {"id": n, "first_name": f, "last_name": l, "email": f"{f}.{l}{n}@mailbox.org".lower(),
            "phone": f"+44 20 7946 {n % 10000:04d}", "created_at": "2024-03-01T12:00:00Z",
            "address": {"street": f"{n % 300 + 1} High Street", "city": "Leeds", "postcode": "LS1 4AP"},
            "plan": {"name": "pro", "price": 49.99}, "active": n % 3 != 0}


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        # Head and body go out together: no Nagle / delayed-ACK stall per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        h = int(hashlib.sha1(self.path.encode()).hexdigest()[:8], 16)
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if parts[-1:] == ["health"]:
            body = {"status": "ok"}
        elif "users" in parts and parts[-1] == "orders":
            body = {"orders": [{"id": f"ord-2024-{h % 100000 + i:05d}", "total": (h % 500) + i * 1.5,
                                "status": "shipped", "placed_at": "2024-05-02T10:00:00Z"} for i in range((h % 12 + 1) * SCALE)]}
        elif "users" in parts:
            body = person(h % 100000)
        elif "search" in parts or "products" in parts:
            body = {"items": [{"sku": f"SKU-{(h + i) % 999999:06d}", "name": f"widget {i}",
                               "price": i + 0.99, "stock": (h + i) % 40} for i in range((h % 20 + 1) * SCALE)],
                    "next": "/api/v1/search?page=2"}
        else:
            body = {"items": [person((h + i) % 100000) for i in range((h % 6 + 1) * SCALE)]}
        data = json.dumps(body).encode()
        head = ("HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        self.wfile.write(head + data)


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Api).serve_forever()
