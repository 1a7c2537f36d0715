#!/usr/bin/env python3
"""A tiny demo backend: GET /health answers "ok" with an X-Load header; any
other path says which region it is. Usage: backend.py HOST PORT REGION [LOAD]"""
import http.server
import sys

HOST, PORT, REGION = sys.argv[1], int(sys.argv[2]), sys.argv[3]
LOAD = sys.argv[4] if len(sys.argv) > 4 else "0.2"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n" if self.path == "/health" else ("hello from %s\n" % REGION).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-Load", LOAD)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
