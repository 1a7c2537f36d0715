"""geodnsd as a secondary of NSD on loopback (issue 15 item 3).

NSD is the primary of example.test with a TSIG key and a NOTIFY target;
geodnsd has the zone with "primary" and "tsig". Before NSD runs, geodnsd
answers SERVFAIL for the zone (no copy yet); once NSD is up it transfers the
zone (AXFR with TSIG) on its retry timer; a change on NSD reaches geodnsd
within seconds through NSD's NOTIFY (the SOA refresh is 7200 s); NOTIFYs
that are unsigned or from another address are REFUSED; and a restart with
NSD gone serves the copy geodnsd kept on disk. NSD must be installed.
"""
import base64
import json
import os
import re
import time
import unittest

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring

from admin_client import Api, write_token_file
from harness import GEODNSD, ZONES, Server, free_port, run_suite, stop_process
from refservers import NSD, Nsd
from test_secondaries import serial_at, wait_for  # the same zone, example.test

SECRET = base64.b64encode(b"geodnsd-secondary-mode-secret!!!").decode()
KEYRING = dns.tsigkeyring.from_text({"xfr.": ("hmac-sha256", SECRET)})
ORIGIN = "example.test"
SERIAL = 2026112601


def query(host, port, name, rdtype, timeout=0.5):
    return dns.query.udp(dns.message.make_query(name, rdtype), host, port=port, timeout=timeout)


class NsdPrimary(Nsd):
    def __init__(self, secondary_port):
        super().__init__([(ORIGIN, "example.test.zone")])
        self.secondary_port = secondary_port

    def command(self):
        d = self.dir
        return self.write_config(self.server_config(verbosity=2) + f"""key:
  name: "xfr"
  algorithm: hmac-sha256
  secret: "{SECRET}"
zone:
  name: {ORIGIN}
  zonefile: "{d}/example.test.zone"
  provide-xfr: 127.0.0.1 xfr
  notify: 127.0.0.1@{self.secondary_port} xfr
""")

    def set_zone(self, serial, extra):
        """Rewrites the zone with `serial` and `extra` records; NSD reloads on SIGHUP."""
        with open(os.path.join(ZONES, "example.test.zone")) as f:
            text = f.read().replace(str(SERIAL), str(serial))
        with open(os.path.join(self.dir, "example.test.zone"), "w") as f:
            f.write(text + extra)
        os.kill(self.proc.pid, __import__("signal").SIGHUP)


class SecondaryMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in (NSD, GEODNSD):
            if not os.access(tool, os.X_OK):
                raise AssertionError("%s is needed (scripts/install-deps installs NSD)" % tool)
        cls.nsd = None
        admin_port = free_port()
        cls.srv = Server(zones=[], config_extra={
            "tsig_keys": {"xfr": {"algorithm": "hmac-sha256", "secret_file": "xfr.key"}},
            "admin": {"listen": "127.0.0.1:%d" % admin_port, "token_file": "admin.token"},
            "health": {"database": "state"},
        })
        write_token_file(cls.srv.dir)
        cls.api = Api(admin_port)
        with open(os.path.join(cls.srv.dir, "xfr.key"), "w") as f:
            f.write(SECRET + "\n")
        cls.nsd_port = free_port()
        with open(cls.srv.config_path) as f:
            cfg = json.load(f)
        cfg["zones"] = [{"origin": ORIGIN, "file": "copy/example.test.zone",
                         "primary": ["127.0.0.1:%d" % cls.nsd_port], "tsig": "xfr"}]
        os.mkdir(os.path.join(cls.srv.dir, "copy"))
        with open(cls.srv.config_path, "w") as f:
            json.dump(cfg, f)
        cls.copy = os.path.join(cls.srv.dir, "copy", "example.test.zone")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        if cls.nsd:
            cls.nsd.stop()
        cls.srv.stop()

    def geodnsd(self, name, rdtype="A"):
        return query(self.srv.host, self.srv.port, name, rdtype)

    def metrics(self):
        status, text, _ = self.api.get("/metrics")
        self.assertEqual(status, 200)
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("geodns_") and " " in line}

    def test_1_servfail_before_the_first_transfer_then_transferred(self):
        r = self.geodnsd("www.example.test.")
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL)
        self.assertFalse(os.path.exists(self.copy))
        m = self.metrics()
        self.assertEqual(m['geodns_secondary_zone_available{zone="example.test"}'], 0)
        self.assertGreaterEqual(m["geodns_secondary_refresh_failures_total"], 1)
        cls = type(self)
        cls.nsd = NsdPrimary(self.srv.port)
        cls.nsd.port = self.nsd_port
        cls.nsd.start()
        # The first attempt failed (no primary); NSD's NOTIFY at its start (or the
        # retry: 5 s, then 10 s) transfers.
        wait_for("geodnsd serves NSD's serial", lambda: serial_at(self.srv.host, self.srv.port) == SERIAL, 20)
        r = self.geodnsd("www.example.test.")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertTrue(r.flags & dns.flags.AA)
        self.assertEqual(sorted(rr.address for rr in r.answer[0]), ["192.0.2.10"])
        r = self.geodnsd("nothere.example.test.")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        log = self.srv.read_log()
        self.assertRegex(log, r"zone example\.test \(secondary\): transferred serial %d .*\(TSIG\)" % SERIAL)
        with open(self.copy) as f:
            self.assertIn("serial %d" % SERIAL, f.read())
        m = wait_for("the metrics show the zone", lambda: (
            self.metrics().get('geodns_secondary_zone_available{zone="example.test"}') == 1 and self.metrics()), 3)
        self.assertEqual(m['geodns_secondary_zone_serial{zone="example.test"}'], SERIAL)
        self.assertGreaterEqual(m["geodns_secondary_transfers_total"], 1)

    def test_2_notify_from_nsd_brings_a_change_within_seconds(self):
        started = time.monotonic()
        self.nsd.set_zone(SERIAL + 1, "added-by-test IN A 192.0.2.123\n")
        wait_for("geodnsd serves serial %d" % (SERIAL + 1),
                 lambda: serial_at(self.srv.host, self.srv.port) == SERIAL + 1, 10)
        # Within seconds: only NSD's NOTIFY can do that (REFRESH is 7200 s).
        self.assertLess(time.monotonic() - started, 10)
        r = self.geodnsd("added-by-test.example.test.")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.0.2.123"])
        self.assertIn("zone example.test (secondary): NOTIFY from a primary: checking now",
                      self.srv.read_log())
        self.assertGreaterEqual(self.metrics()["geodns_secondary_notifies_total"], 1)

    def notify(self, source, signed):
        m = dns.message.make_query(ORIGIN + ".", "SOA")
        m.set_opcode(dns.opcode.NOTIFY)
        m.flags |= dns.flags.AA
        if signed:
            m.use_tsig(KEYRING, keyname="xfr.")
        return dns.query.udp(m, self.srv.host, port=self.srv.port, timeout=1, source=source)

    def test_3_notify_unsigned_or_from_elsewhere_is_refused(self):
        self.assertEqual(self.notify("127.0.0.1", signed=False).rcode(), dns.rcode.REFUSED)
        self.assertEqual(self.notify("127.0.0.2", signed=True).rcode(), dns.rcode.REFUSED)
        ok = self.notify("127.0.0.1", signed=True)
        self.assertEqual(ok.rcode(), dns.rcode.NOERROR)
        self.assertEqual(ok.opcode(), dns.opcode.NOTIFY)

    def test_4_restart_without_the_primary_serves_the_kept_copy(self):
        self.nsd.stop()
        type(self).nsd = None
        stop_process(self.srv.proc)
        self.srv.log.close()
        self.srv.start()
        # At once, from the copy: no primary to transfer from.
        self.assertEqual(serial_at(self.srv.host, self.srv.port), SERIAL + 1)
        r = self.geodnsd("added-by-test.example.test.")
        self.assertEqual([rr.address for rr in r.answer[0]], ["192.0.2.123"])
        wait_for("the failed refresh is logged",
                 lambda: re.search(r"zone example\.test \(secondary\): refresh failed", self.srv.read_log()), 5)


if __name__ == "__main__":
    raise SystemExit(run_suite(["test_secondary_mode"]))
