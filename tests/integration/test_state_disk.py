"""A full state filesystem must not take DNS down (issue 11, item 1).

The state database lives on a 6 MiB tmpfs that this test mounts (and
unmounts). Drains and undrains fill it until RocksDB reports ENOSPC; DNS must
keep answering, writes must get 503, /metrics, /readyz and a rate-limited log
line must say so, and once space is freed the database must take writes
again (RocksDB Resume()). Stopping while the disk is full must be clean.

Mounting needs root (CI runs as root). Where it is not allowed the suite
exits 77, which CTest reports as skipped (SKIP_RETURN_CODE), never passed.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from hardening_util import WRITE_TOKEN, AdminTestServer

REASON = "x" * 1000  # large records fill the disk in a few hundred calls
MEMBERS = ["192.0.2.1", "198.51.100.1", "192.0.2.11", "198.51.100.11"]


class Client:
    """One keep-alive connection to the admin API."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def post(self, path, body):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.conn.request("POST", path, body=json.dumps(body),
                                  headers={"Authorization": "Bearer " + WRITE_TOKEN,
                                           "Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = json.loads(r.read().decode())
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data
            except (http.client.HTTPException, ConnectionError):
                self.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn:
            self.conn.close()


def fill(port):
    """Pushes loads with long reasons from four connections until each gets
    a refusal; returns the refusals' bodies (all must be 503)."""
    results = {}

    def run(member):
        c = Client(port)
        try:
            for _ in range(20000):
                status, body = c.post("/v1/members/%s/load" % member,
                                      {"load": 0.5, "ttl_s": 86400, "reason": REASON})
                if status != 200:
                    results[member] = (status, body)
                    return
            results[member] = (None, "never filled up")
        finally:
            c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(m,)) for m in MEMBERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("filled in %.1fs" % (time.monotonic() - t0))
    return results


def leave_free(path, mount, free_bytes):
    """Writes a filler so that about `free_bytes` stay free on `mount`."""
    st = os.statvfs(mount)
    size = max(0, st.f_bavail * st.f_frsize - free_bytes)
    with open(path, "wb") as f:
        f.write(b"\0" * size)


class FullStateDiskTest(unittest.TestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="geodnsd-state-")
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", self.mnt],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs here (%s): needs root" %
                          (e.stderr.decode().strip() if getattr(e, "stderr", None) else e))
        self.addCleanup(self.unmount)
        self.db = os.path.join(self.mnt, "state")
        self.filler = os.path.join(self.mnt, "filler")  # freed later: the operator making room
        self.srv = AdminTestServer(database=self.db, threads=4)
        self.addCleanup(self.srv.stop)

    def unmount(self):
        subprocess.run(["umount", self.mnt], capture_output=True)
        os.rmdir(self.mnt)

    def check_refusals(self, results):
        for member, (status, body) in results.items():
            self.assertEqual(status, 503, (member, body))
            self.assertIn("No space left on device", body["error"])

    def drain(self, client, what):
        return client.post("/v1/regions/a/%s" % what, {"reason": "maintenance"})

    def test_full_disk_refuses_writes_keeps_answering_and_recovers(self):
        srv = self.srv.start()
        leave_free(self.filler, self.mnt, 600 << 10)
        self.check_refusals(fill(srv.admin_port))
        client = Client(srv.admin_port)
        self.addCleanup(client.close)

        # Every further write is refused, none kills the process: for longer
        # than RocksDB takes to flush its buffers (5 s) and to retry a resume.
        for _ in range(30):
            status, body = self.drain(client, "drain")
            self.assertEqual(status, 503, body)
            self.assertIn("not recorded", body["error"])
            time.sleep(0.25)
        self.assertIsNone(srv.proc.poll(), srv.read_log()[-2000:])
        # DNS keeps answering from memory (nothing was drained), UDP and TCP.
        for transport in ("udp", "tcp"):
            self.assertEqual(srv.addrs(transport=transport), ["192.0.2.1"])
        # Visible to orchestrators and to monitoring.
        status, ready, _ = srv.api.get("/readyz", token=None)
        self.assertEqual(status, 200)  # still serving DNS: not a reason to restart it
        self.assertFalse(ready["state_store"]["writable"], ready)
        self.assertIn("No space left on device", ready["state_store"]["last_error"])
        m = srv.metrics()
        self.assertEqual(m["geodns_state_store_writable"], 0)
        self.assertGreaterEqual(m["geodns_state_store_errors_total"], 34)
        # Logged, and rate-limited: 34 failed writes do not make 34 lines.
        log = srv.read_log()
        self.assertIn("state database is not writable", log)
        lines = [l for l in log.splitlines() if "state database" in l]
        self.assertLessEqual(len(lines), 12, "\n".join(lines))

        # The operator frees space: writes work again within a few seconds.
        os.unlink(self.filler)
        deadline = time.monotonic() + 10
        while True:
            status, body = self.drain(client, "drain")
            if status == 200:
                break
            self.assertEqual(status, 503, body)
            self.assertLess(time.monotonic(), deadline, "no recovery after space was freed")
            time.sleep(0.2)
        self.assertEqual(srv.addrs(), ["198.51.100.1"])
        status, ready, _ = srv.api.get("/readyz", token=None)
        self.assertTrue(ready["state_store"]["writable"], ready)
        m = srv.metrics()
        self.assertEqual(m["geodns_state_store_writable"], 1)
        self.assertGreaterEqual(m["geodns_state_store_recoveries_total"], 1)
        self.assertIn("state database writable again", srv.read_log())

        # Full once more, and stopped while full: a clean exit, and the drain
        # acknowledged after the recovery is in force after a restart.
        leave_free(self.filler, self.mnt, 600 << 10)
        self.check_refusals(fill(srv.admin_port))
        status, body = self.drain(client, "undrain")
        self.assertEqual(status, 503, body)
        client.close()
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(timeout=20), 0, srv.read_log()[-3000:])
        self.assertNotIn("Assertion", srv.read_log())
        os.unlink(self.filler)
        srv.log.close()
        srv.start()
        self.assertEqual(srv.addrs(), ["198.51.100.1"])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    if not result.wasSuccessful():
        sys.exit(1)
    sys.exit(77 if result.skipped else 0)  # CTest: SKIP_RETURN_CODE 77
