"""NSD and Knot as reference servers on loopback, for differential tests.

Each server gets its own temp dir with its config, zone files, pid file and
state, listens only on 127.0.0.1:PORT, runs in the foreground and is stopped
by PID (harness.stop_process). `missing()` says why one cannot run here, so a
test can be reported as skipped rather than pass.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import dns.message
import dns.query

from harness import ZONES, free_port, stop_process

NSD = os.environ.get("NSD", "/usr/sbin/nsd")
KNOTD = os.environ.get("KNOTD", "/usr/sbin/knotd")


class RefServer:
    name = "?"
    binary = None

    def __init__(self, zones):
        self.dir = tempfile.mkdtemp(prefix="geodns-ref-%s-" % self.name)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.zones = zones
        for _, fname in zones:
            shutil.copy(os.path.join(ZONES, fname), os.path.join(self.dir, fname))
        self.proc = None
        self.log_path = os.path.join(self.dir, "server.log")

    @classmethod
    def missing(cls):
        """Why this server cannot run here, or None."""
        if not os.access(cls.binary, os.X_OK):
            return "%s not installed (%s)" % (cls.name, cls.binary)
        return None

    def command(self):
        raise NotImplementedError

    def start(self, timeout=15.0):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir)
        deadline = time.monotonic() + timeout
        origin = self.zones[0][0] + "."
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited %d:\n%s" % (self.name, self.proc.returncode, self.read_log()))
            try:
                r = dns.query.udp(dns.message.make_query(origin, "SOA"), self.host, port=self.port, timeout=0.2)
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                if r.answer:  # the zone is loaded, not only the socket open
                    return self
            except Exception:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s not ready within %.0fs:\n%s" % (self.name, timeout, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        stop_process(self.proc)
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Nsd(RefServer):
    name = "nsd"
    binary = NSD

    def server_config(self, verbosity=1, extra=""):
        """nsd.conf's server: and remote-control: sections for this instance."""
        d = self.dir
        return f"""server:
  ip-address: 127.0.0.1@{self.port}
  port: {self.port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{d}"
  database: ""
  zonelistfile: "{d}/zone.list"
  xfrdfile: "{d}/xfrd.state"
  xfrdir: "{d}"
  pidfile: "{d}/nsd.pid"
  logfile: "{d}/nsd.log"
  server-count: 1
  verbosity: {verbosity}
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
{extra}remote-control:
  control-enable: no
"""

    def write_config(self, text):
        conf = os.path.join(self.dir, "nsd.conf")
        with open(conf, "w") as f:
            f.write(text)
        return [self.binary, "-d", "-c", conf]

    def command(self):
        d = self.dir
        zones = "".join("zone:\n  name: %s\n  zonefile: %s\n" % (o, os.path.join(d, f)) for o, f in self.zones)
        return self.write_config(self.server_config(extra="  minimal-responses: yes\n") + zones)

    def read_log(self):
        """The server's output, then its own log file (NSD writes most there)."""
        text = super().read_log()
        try:
            with open(os.path.join(self.dir, "nsd.log")) as f:
                text += f.read()
        except OSError:
            pass
        return text


class Knot(RefServer):
    name = "knot"
    binary = KNOTD

    def command(self):
        d = self.dir
        conf = os.path.join(d, "knot.conf")
        zones = "".join("  - domain: %s\n    file: %s\n" % (o, os.path.join(d, f)) for o, f in self.zones)
        with open(conf, "w") as f:
            f.write(f"""server:
  rundir: "{d}"
  pidfile: "{d}/knot.pid"
  listen: 127.0.0.1@{self.port}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
  edns-client-subnet: on
database:
  storage: "{d}"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{d}"
    zonefile-sync: -1
    journal-content: none
zone:
{zones}""")
        return [self.binary, "-c", conf]
