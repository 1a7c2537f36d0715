"""Starts the real geodnsd on loopback for integration tests.

Each Server writes its config and zones into a temp dir, picks a free port,
starts the binary, waits for readiness with a bounded poll, and stops the
process by PID. Only loopback addresses are used.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import dns.message
import dns.query
import dns.rdatatype

GEODNSD = os.environ.get("GEODNSD", os.path.join(os.path.dirname(__file__), "../../build/dev/server/geodnsd"))
ZONES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zones")

# ---- skips: reported to ctest, never a silent pass ----
# Every integration test in tests/CMakeLists.txt has SKIP_RETURN_CODE 77: a
# suite that exits 77 shows as "Skipped" in ctest, and CI (scripts/test with
# CI set) fails when anything was skipped, because CI installs every tool.
SKIP_CODE = 77


def skip_suite(reason):
    """Stops the whole suite as skipped (exit 77) with `reason` on stderr.
    Call it at import time or in setUpClass, before anything is started."""
    sys.stdout.flush()
    print("SKIPPED: " + reason, file=sys.stderr, flush=True)
    sys.exit(SKIP_CODE)


def find_tool(name, *fallbacks):
    """Path of a tool on PATH (or one of `fallbacks`), or None."""
    path = shutil.which(name)
    if path:
        return path
    for f in fallbacks:
        if os.path.exists(f):
            return f
    return None


def require_tools(*names):
    """Skips the suite (exit 77) unless every tool is installed; returns their paths."""
    paths = [find_tool(n, "/usr/sbin/" + n) for n in names]
    missing = [n for n, p in zip(names, paths) if not p]
    if missing:
        skip_suite("not installed: %s (scripts/install-deps installs it)" % ", ".join(missing))
    return paths


def require_root(why):
    """Skips the suite (exit 77) unless running as root."""
    if os.geteuid() != 0:
        skip_suite("needs root: " + why)


def skip_unless_tool(name):
    """Decorator for one test (or class) that needs `name`; a skipped test
    makes run_suite exit 77, so ctest reports the suite as skipped."""
    return unittest.skipUnless(find_tool(name, "/usr/sbin/" + name), "%s not installed" % name)


def run_suite(names):
    """The ctest entry point: runs unittest names (modules, classes or tests);
    exit 1 on any failure or error, else 77 if anything was skipped (each
    skip and its reason printed), else 0. A suite that runs no test fails."""
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    sys.stdout.flush()
    if not result.wasSuccessful():
        return 1
    if result.skipped:
        for test, reason in result.skipped:
            print("SKIPPED: %s: %s" % (test.id(), reason), file=sys.stderr)
        return SKIP_CODE
    if result.testsRun == 0:
        print("no test ran: %s" % " ".join(names), file=sys.stderr)
        return 1
    return 0


_issued_ports = set()


def _below_ephemeral_range():
    """[low, high] under the kernel's ephemeral port range (the ports it gives
    client sockets): a server port there cannot be taken by a test's own
    outgoing connection while the server restarts on it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            first = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32768
    return 10000, max(10999, first - 1)


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host, below the ephemeral range and
    not handed out before by this process. (A port the kernel picked from the
    ephemeral range could be given, between a server's stop and its restart,
    to a client socket polling the admin API: the restart then failed with
    "Address already in use".)"""
    import random
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    low, high = _below_ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randint(low, high)
        if port in _issued_ports:
            continue
        t = socket.socket(fam, socket.SOCK_STREAM)
        u = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            t.bind((host, port))
            u.bind((host, port))
        except OSError:
            continue
        finally:
            t.close()
            u.close()
        _issued_ports.add(port)
        return port
    raise RuntimeError("no free port")


def check_probes_stay_on_loopback(cfg):
    """Tests may only send traffic to loopback: every probed address (a member's
    target, or its address when it has none) must be in 127.0.0.0/8 or ::1."""
    import ipaddress
    probes = cfg.get("probes", {})
    for pname, pool in cfg.get("pools", {}).items():
        for rname, region in pool.get("regions", {}).items():
            for m in region.get("members", []):
                if not (m.get("probe") or pool.get("probe")) or not probes:
                    continue
                probed = ipaddress.ip_address(m.get("target", m["address"]))
                if not probed.is_loopback:
                    raise AssertionError("pool %s region %s: probe would reach %s, not loopback" % (pname, rname, probed))


def stop_process(proc, timeout=10):
    """SIGTERM by PID, then SIGKILL if it has not exited within `timeout`."""
    if proc and proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


class Server:
    def __init__(self, zones=None, config_extra=None, zone_files=None, listen_v6=False, workers=2):
        self.dir = tempfile.mkdtemp(prefix="geodnsd-it-")
        self.port = free_port()
        self.host = "127.0.0.1"
        zone_files = zone_files or {}
        zones = zones if zones is not None else [("example.test", "example.test.zone"),
                                                  ("child.example.test", "child.example.test.zone")]
        for origin, fname in zones:
            src = zone_files.get(fname)
            if src is None:
                shutil.copy(os.path.join(ZONES, fname), os.path.join(self.dir, fname))
            else:
                with open(os.path.join(self.dir, fname), "w") as f:
                    f.write(src)
        self.listen = ["127.0.0.1:%d" % self.port]
        if listen_v6:
            self.listen.append("[::1]:%d" % self.port)
        cfg = {
            "listen": self.listen,
            "workers": workers,
            "zones": [{"origin": o, "file": f} for o, f in zones],
        }
        if config_extra:
            cfg.update(config_extra)
        check_probes_stay_on_loopback(cfg)
        import json
        self.config_path = os.path.join(self.dir, "geodnsd.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        self.log_path = os.path.join(self.dir, "geodnsd.log")
        self.proc = None

    def kill9(self):
        """Kills the server without any chance to clean up (crash test)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def start(self, timeout=10.0):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([GEODNSD, "--config", self.config_path] + list(getattr(self, "extra_args", [])),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("geodnsd exited %d:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                q = dns.message.make_query("example.test.", "SOA")
                dns.query.udp(q, self.host, port=self.port, timeout=0.2)
                s = socket.create_connection((self.host, self.port), timeout=0.5)
                s.close()
                return self
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("geodnsd not ready within %.0fs:\n%s" % (timeout, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self):
        stop_process(self.proc)
        if getattr(self, "log", None):
            self.log.close()
        self.final_log = self.read_log()  # for checks after the stop
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- querying ----
    def query(self, msg, transport, timeout=2.0):
        if transport == "udp":
            return dns.query.udp(msg, self.host, port=self.port, timeout=timeout, ignore_trailing=False)
        return dns.query.tcp(msg, self.host, port=self.port, timeout=timeout)

    def ask(self, name, rdtype="A", transport="udp", **kw):
        q = dns.message.make_query(name, rdtype, **kw)
        q.flags &= ~dns.flags.RD
        return self.query(q, transport)

    def raw(self, wire, transport, timeout=1.0):
        """Sends raw bytes; returns the raw response or None (no answer / closed)."""
        if transport == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(timeout)
            try:
                s.sendto(wire, (self.host, self.port))
                return s.recv(65535)
            except socket.timeout:
                return None
            finally:
                s.close()
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            return read_frame(s)
        except (socket.timeout, ConnectionError):
            return None
        finally:
            s.close()


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(s):
    hdr = read_exact(s, 2)
    if hdr is None:
        return None
    (n,) = struct.unpack("!H", hdr)
    return read_exact(s, n)


TRANSPORTS = ("udp", "tcp")


if __name__ == "__main__":
    # `python3 harness.py test_protocol [test_x.Class.test_y ...]`: the suites'
    # ctest command. Imported under its own name so that the test modules and
    # this runner share one harness module.
    import harness
    sys.exit(harness.run_suite(sys.argv[1:]))
