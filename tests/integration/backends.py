"""Probe targets for health tests: HTTP(S) and TCP servers on loopback whose
answers the test switches at will. Started and stopped by the test itself."""
import http.server
import os
import socket
import ssl
import subprocess
import tempfile
import threading

import dns.message
import dns.rrset


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = self.server.backend
        b.hits += 1
        status = b.status
        b.served.append(status)  # what each probe was told, in order
        body = b.body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if b.load is not None:
            self.send_header("X-Load", b.load)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpBackend:
    """An HTTP or HTTPS server on (host, port); status/body/load can change at any time."""

    def __init__(self, host, port=0, tls_cert=None):
        self.status, self.body, self.load, self.hits = 200, "ok", None, 0
        self.served = []
        self.server = http.server.ThreadingHTTPServer((host, port), _Handler)
        self.server.backend = self
        self.server.daemon_threads = True
        if tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls_cert)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class TcpBackend:
    """A TCP listener that accepts and closes; open() and close() toggle it."""

    def __init__(self, host, port):
        self.host, self.port, self.sock = host, port, None
        self.open()

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(64)
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                return

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


def self_signed_cert(cn="web.test"):
    """A throwaway certificate made by the test (openssl CLI)."""
    d = tempfile.mkdtemp(prefix="geodns-cert-")
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "1", "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn],
                   check=True, capture_output=True)
    return crt, key


def free_tcp_port(host):
    # harness.free_port: below the ephemeral range, so that no client socket
    # takes it while a backend is (re)started on it.
    from harness import free_port
    return free_port(host)


class DnsBackend:
    """A UDP DNS responder on (host, port) answering every query with `rcode`."""

    def __init__(self, host, port=0):
        self.rcode = 0
        self.with_answer = False
        self.last_qtype = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]

        def serve():
            while True:
                try:
                    data, peer = self.sock.recvfrom(4096)
                except OSError:
                    return
                try:
                    q = dns.message.from_wire(data)
                    self.last_qtype = q.question[0].rdtype
                    r = dns.message.make_response(q)
                    r.set_rcode(self.rcode)
                    if self.with_answer:
                        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "AAAA", "2001:db8::1"))
                    self.sock.sendto(r.to_wire(), peer)
                except Exception:
                    pass
        threading.Thread(target=serve, daemon=True).start()

    def stop(self):
        self.sock.close()
