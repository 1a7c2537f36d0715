"""Helpers for the hardening suites: a geodnsd with the admin API on, raw
HTTP over a socket (bytes that urllib would refuse to send), /metrics
parsing, and per-thread CPU time from /proc. Loopback only."""
import json
import os
import re
import socket
import time

from admin_client import Api
from harness import GEODNSD, Server, free_port

WRITE_TOKEN = "it-ops-token-0123456789"
READ_TOKEN = "it-prom-token-0123456789"

ZONE = """$ORIGIN hard.test.
$TTL 300
@    SOA ns1 hostmaster 1 3600 600 86400 60
@    NS  ns1
ns1  A   127.0.0.1
"""


def admin_config(admin_port, database="state", threads=2):
    return {
        "health": {"database": database},
        "admin": {"listen": "127.0.0.1:%d" % admin_port, "token_file": "admin.token",
                  "threads": threads},
        "regions": {"a": {}, "b": {}},
        "pools": {
            "web": {"ttl": 30, "regions": {
                "a": {"members": [{"address": "192.0.2.1"}]},
                "b": {"members": [{"address": "198.51.100.1"}]}}},
            "fo": {"ttl": 20, "regions": {
                "a": {"members": [{"address": "192.0.2.11"}]},
                "b": {"members": [{"address": "198.51.100.11"}]}},
                "failover": {"primary": "a", "standby": ["b"], "promote_after_s": 30,
                             "failback_after_s": 60, "failback": "manual"}},
        },
        "policies": {
            "ordered": {"steps": []},
            "ap": {"steps": [{"step": "failover"}, {"step": "first_n", "n": 1}]},
        },
        "bindings": [
            {"name": "www.hard.test", "pool": "web", "policy": "ordered"},
            {"name": "fo.hard.test", "pool": "fo", "policy": "ap"},
        ],
    }


class AdminTestServer(Server):
    """geodnsd with the admin API; a write token ("ops") and a read one ("prom")."""

    def __init__(self, database="state", token_text=None, threads=2, config_extra=None):
        self.admin_port = free_port()
        cfg = admin_config(self.admin_port, database, threads)
        cfg.update(config_extra or {})
        super().__init__(zones=[("hard.test", "hard.test.zone")], zone_files={"hard.test.zone": ZONE},
                         config_extra=cfg, workers=1)
        path = os.path.join(self.dir, "admin.token")
        with open(path, "w") as f:
            f.write(token_text if token_text is not None else
                    "ops:%s\nprom:%s:read\n" % (WRITE_TOKEN, READ_TOKEN))
        os.chmod(path, 0o600)
        self.api = Api(self.admin_port, token=WRITE_TOKEN)
        self.reader = Api(self.admin_port, token=READ_TOKEN)

    def start(self, timeout=10.0, preexec_fn=None):
        if preexec_fn is None:
            super().start(timeout)
        else:
            import subprocess
            self.log = open(self.log_path, "a")
            self.proc = subprocess.Popen([GEODNSD, "--config", self.config_path],
                                         stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("geodnsd exited %d:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                if self.api.get("/readyz", token=None)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("admin API not ready:\n" + self.read_log())

    def addrs(self, name="www.hard.test", transport="udp"):
        import dns.message
        r = self.query(dns.message.make_query(name, "A"), transport)
        return sorted(rr.address for rrset in r.answer for rr in rrset)

    def metrics(self):
        status, text, _ = self.reader.get("/metrics")
        assert status == 200, (status, text)
        return parse_metrics(text)


def parse_metrics(text):
    """{'name{labels}': value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def raw_http(port, data, timeout=5.0, source=None):
    """Sends `data` as is and reads one response (by its Content-Length, else
    to EOF); returns (status or None, body bytes)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    resp = b""
    try:
        if source:
            s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(data)
        while True:
            head_end = resp.find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", resp[:head_end])
                if m and len(resp) >= head_end + 4 + int(m.group(1)):
                    break
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            resp += b
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", resp)
    _, _, body = resp.partition(b"\r\n\r\n")
    return (int(m.group(1)) if m else None), body


def raw_json(port, data, **kw):
    status, body = raw_http(port, data, **kw)
    try:
        return status, json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return status, body


def thread_cpu_seconds(pid, name):
    """utime+stime (seconds) summed over the threads of `pid` called `name`."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm != name:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick
