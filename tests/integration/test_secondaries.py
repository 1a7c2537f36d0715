"""NSD and Knot as secondaries of geodnsd on loopback (issue 15).

geodnsd serves example.test with a transfer ACL (127.0.0.1), a TSIG key and
NOTIFY targets; NSD and Knot take the zone by zone transfer with that key,
get a NOTIFY after a reload that changes the data (the serial moves by the
zone's "serial": "increment" policy, the file's serial does not) and serve the
new serial within seconds. A transfer without TSIG, or from outside the ACL,
is refused. NSD and Knot must be installed: without them this suite fails.
"""
import base64
import os
import re
import shutil
import time
import unittest

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.xfr
import dns.zone

from harness import GEODNSD, ZONES, Server, free_port, run_suite
from refservers import KNOTD, NSD, Knot, Nsd

SECRET = base64.b64encode(b"geodnsd-secondaries-test-secret!").decode()
KEYRING = dns.tsigkeyring.from_text({"xfr.": ("hmac-sha256", SECRET)})
ORIGIN = "example.test"


def serial_at(host, port, timeout=0.5):
    r = dns.query.udp(dns.message.make_query(ORIGIN + ".", "SOA"), host, port=port, timeout=timeout)
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.1)
    raise AssertionError("%s: not within %.0f s (last: %r)" % (what, timeout, last))


class NsdSecondary(Nsd):
    def __init__(self, primary_port):
        super().__init__([(ORIGIN, "example.test.zone")])
        os.remove(os.path.join(self.dir, "example.test.zone"))  # it must come by transfer
        self.primary_port = primary_port

    def command(self):
        d = self.dir
        return self.write_config(self.server_config(verbosity=2) + f"""key:
  name: "xfr"
  algorithm: hmac-sha256
  secret: "{SECRET}"
zone:
  name: {ORIGIN}
  zonefile: "{d}/example.test.zone"
  allow-notify: 127.0.0.1 xfr
  request-xfr: 127.0.0.1@{self.primary_port} xfr
""")


class KnotSecondary(Knot):
    def __init__(self, primary_port):
        super().__init__([(ORIGIN, "example.test.zone")])
        os.remove(os.path.join(self.dir, "example.test.zone"))
        self.primary_port = primary_port

    def command(self):
        d = self.dir
        conf = os.path.join(d, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
  rundir: "{d}"
  pidfile: "{d}/knot.pid"
  listen: 127.0.0.1@{self.port}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "{d}"
log:
  - target: stderr
    any: info
key:
  - id: xfr
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: primary
    address: 127.0.0.1@{self.primary_port}
    key: xfr
acl:
  - id: notify_from_primary
    address: 127.0.0.1
    key: xfr
    action: notify
template:
  - id: default
    storage: "{d}"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: {ORIGIN}
    file: "{d}/example.test.zone"
    master: primary
    acl: notify_from_primary
""")
        return [self.binary, "-c", conf]


class Secondaries(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in (NSD, KNOTD, GEODNSD):
            if not os.access(tool, os.X_OK):
                raise AssertionError("%s is needed (scripts/install-deps installs NSD and Knot)" % tool)
        cls.nsd_port, cls.knot_port = free_port(), free_port()
        cls.srv = Server(zones=[(ORIGIN, "example.test.zone")], config_extra={
            "tsig_keys": {"xfr": {"algorithm": "hmac-sha256", "secret_file": "xfr.key"}},
        })
        import json
        with open(cls.srv.config_path) as f:
            cfg = json.load(f)
        cfg["zones"][0].update({
            "transfer": {"allow": ["127.0.0.1"], "tsig": "xfr"},
            "notify": ["127.0.0.1:%d" % cls.nsd_port, "127.0.0.1:%d" % cls.knot_port],
            "serial": "increment",
        })
        with open(cls.srv.config_path, "w") as f:
            json.dump(cfg, f)
        with open(os.path.join(cls.srv.dir, "xfr.key"), "w") as f:
            f.write(SECRET + "\n")
        cls.srv.start()
        cls.secondaries = []
        try:
            for kind, port in ((NsdSecondary, cls.nsd_port), (KnotSecondary, cls.knot_port)):
                s = kind(cls.srv.port)
                s.port = port
                cls.secondaries.append(s)
                s.start(timeout=30)  # ready = answers the SOA: the first transfer is done
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in getattr(cls, "secondaries", []):
            s.stop()
        cls.srv.stop()

    def primary_serial(self):
        return serial_at(self.srv.host, self.srv.port)

    def test_1_secondaries_serve_the_zone(self):
        serial = self.primary_serial()
        self.assertEqual(serial, 2026112601)
        for s in self.secondaries:
            with self.subTest(secondary=s.name):
                self.assertEqual(serial_at(s.host, s.port), serial)
                r = dns.query.udp(dns.message.make_query("www.example.test.", "A"), s.host, port=s.port,
                                  timeout=1)
                self.assertEqual(sorted(rr.address for rr in r.answer[0]), ["192.0.2.10"])
        log = self.srv.read_log()
        self.assertIn("(TSIG)", log)  # every transfer was signed
        self.assertNotIn("refused", log)

    def test_2_reload_notifies_and_secondaries_follow(self):
        before = self.primary_serial()
        zone = os.path.join(self.srv.dir, "example.test.zone")
        with open(zone, "a") as f:  # new data, the file's serial unchanged
            f.write("added-by-test IN A 192.0.2.123\n")
        self.srv.signal(__import__("signal").SIGHUP)
        after = wait_for("geodnsd serves the incremented serial",
                         lambda: self.primary_serial() == before + 1 and before + 1, 10)
        started = time.monotonic()
        for s in self.secondaries:
            with self.subTest(secondary=s.name):
                wait_for("%s serves serial %d" % (s.name, after),
                         lambda: serial_at(s.host, s.port) == after, 10)
                r = dns.query.udp(dns.message.make_query("added-by-test.example.test.", "A"), s.host,
                                  port=s.port, timeout=1)
                self.assertEqual([rr.address for rr in r.answer[0]], ["192.0.2.123"])
        # Within seconds: only the NOTIFY can do that (the SOA refresh is 7200 s).
        self.assertLess(time.monotonic() - started, 10)
        wait_for("both NOTIFYs acknowledged",
                 lambda: len(re.findall(r"acknowledged zone example\.test\. serial %d" % after,
                                        self.srv.read_log())) == 2, 10)

    def transfer(self, **kw):
        return dns.query.xfr(self.srv.host, ORIGIN, port=self.srv.port, lifetime=5, **kw)

    def test_3_unsigned_transfer_refused(self):
        with self.assertRaises(dns.xfr.TransferError) as e:
            list(self.transfer())
        self.assertEqual(e.exception.rcode, dns.rcode.REFUSED)

    def test_4_transfer_from_outside_the_acl_refused(self):
        with self.assertRaises(dns.xfr.TransferError) as e:
            list(self.transfer(keyring=KEYRING, keyname="xfr.", source="127.0.0.2"))
        self.assertEqual(e.exception.rcode, dns.rcode.REFUSED)

    def test_5_signed_transfer_from_inside_the_acl(self):
        z = dns.zone.from_xfr(self.transfer(keyring=KEYRING, keyname="xfr."))
        self.assertEqual(z.get_rdataset("www", "A")[0].address, "192.0.2.10")
        self.assertEqual(z.get_rdataset("@", "SOA")[0].serial, self.primary_serial())


if __name__ == "__main__":
    raise SystemExit(run_suite(["test_secondaries"]))
