"""Operations under load: response rate limiting against a flood, reloads
under dnsperf load without a lost query, and a graceful SIGTERM with TCP
queries in flight."""
import json
import os
import signal
import socket
import struct
import subprocess
import time
import unittest

import dns.flags
import dns.message

from admin_client import Api, write_token_file
from harness import Server, free_port, read_frame, skip_unless_tool, stop_process

ZONE = """$ORIGIN life.test.
$TTL 300
@    SOA ns1 hostmaster {serial} 3600 600 86400 60
@    NS  ns1
ns1  A   127.0.0.1
www  A   192.0.2.{serial}
"""


def zone(serial):
    return ZONE.format(serial=serial)


class RateLimiting(unittest.TestCase):
    def test_a_flood_from_one_prefix_is_limited_while_another_prefix_is_answered(self):
        admin_port = free_port()
        srv = Server(zones=[("life.test", "life.zone")], zone_files={"life.zone": zone(1)},
                     config_extra={"rrl": {"responses_per_second": 10, "slip": 2},
                                   "health": {"database": "state"},
                                   "admin": {"listen": "127.0.0.1:%d" % admin_port, "token_file": "admin.token"}})
        write_token_file(srv.dir)
        srv.start()
        try:
            q = dns.message.make_query("www.life.test.", "A")
            q.id = 7
            wire = q.to_wire()
            flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            flood.bind(("127.0.0.1", 0))
            flood.settimeout(0.3)
            for _ in range(200):
                flood.sendto(wire, (srv.host, srv.port))
            full = truncated = 0
            try:
                while True:
                    r = dns.message.from_wire(flood.recv(65535))
                    if r.flags & dns.flags.TC:
                        truncated += 1
                        self.assertEqual(r.answer, [])
                    else:
                        full += 1
            except socket.timeout:
                pass
            flood.close()
            # One second's worth (plus one refill if the burst straddled a second).
            self.assertGreaterEqual(full, 10)
            self.assertLessEqual(full, 20)
            # About half of the limited ones slip through truncated; the rest are dropped.
            self.assertGreater(truncated, 60)
            self.assertLess(truncated, 120)
            # Another /24 (127.0.1.0/24) is answered normally, meanwhile.
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            other.bind(("127.0.1.1", 0))
            other.settimeout(1.0)
            for _ in range(5):
                other.sendto(wire, (srv.host, srv.port))
                r = dns.message.from_wire(other.recv(65535))
                self.assertFalse(r.flags & dns.flags.TC)
                self.assertEqual(r.answer[0][0].address, "192.0.2.1")
            other.close()
            # TCP is never limited: the truncated client's retry works.
            self.assertEqual(srv.ask("www.life.test.", "A", transport="tcp").answer[0][0].address, "192.0.2.1")
            metrics = Api(admin_port).get("/metrics")[1]
            dropped = int(metrics.split("\ngeodns_rrl_dropped_total ")[1].split()[0])
            slipped = int(metrics.split("\ngeodns_rrl_slipped_total ")[1].split()[0])
            self.assertEqual(slipped, truncated)
            self.assertEqual(dropped + slipped + full, 200)
        finally:
            srv.stop()


    def test_limits_follow_reloads_and_enabled_false_turns_limiting_off(self):
        srv = Server(zones=[("life.test", "life.zone")], zone_files={"life.zone": zone(1)},
                     config_extra={"rrl": {"responses_per_second": 5, "slip": 0}})
        srv.start()

        def flood(name, n=100):
            """n identical queries from one socket: (full answers, truncated)."""
            wire = dns.message.make_query(name, "A").to_wire()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.3)
            for _ in range(n):
                s.sendto(wire, (srv.host, srv.port))
            full = truncated = 0
            try:
                while True:
                    r = dns.message.from_wire(s.recv(65535))
                    if r.flags & dns.flags.TC:
                        truncated += 1
                    else:
                        full += 1
            except socket.timeout:
                pass
            s.close()
            return full, truncated

        def reload(cfg_rrl, serial):
            """Reloads with new rrl settings and zone serial; returns once the
            new snapshot answers (the serial shows over TCP, never limited)."""
            with open(srv.config_path) as f:
                cfg = json.load(f)
            cfg["rrl"] = cfg_rrl
            with open(srv.config_path, "w") as f:
                json.dump(cfg, f)
            with open(os.path.join(srv.dir, "life.zone"), "w") as f:
                f.write(zone(serial))
            srv.signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while srv.ask("life.test.", "SOA", transport="tcp").answer[0][0].serial != serial:
                self.assertLess(time.monotonic(), deadline, srv.read_log())
                time.sleep(0.05)

        try:
            # Each phase asks another name: a fresh bucket, whatever the second.
            full, _ = flood("www.life.test.")
            self.assertGreaterEqual(full, 5)
            self.assertLessEqual(full, 10)  # 5 a second (plus one refill)
            reload({"responses_per_second": 40, "slip": 0}, 2)
            full, _ = flood("ns1.life.test.")
            self.assertGreaterEqual(full, 40)
            self.assertLessEqual(full, 80)  # the new rate, not the old one, not unlimited
            reload({"enabled": False, "responses_per_second": 5}, 3)
            self.assertEqual(flood("life.test.", 100), (100, 0))  # off: everything answered
        finally:
            srv.stop()


@skip_unless_tool("dnsperf")  # a skip makes the suite "Skipped" in ctest
class ReloadUnderLoad(unittest.TestCase):
    def test_ten_reloads_during_a_dnsperf_run_lose_no_query(self):
        srv = Server(zones=[("life.test", "life.zone")], zone_files={"life.zone": zone(1)}).start()
        try:
            qfile = os.path.join(srv.dir, "queries.txt")
            with open(qfile, "w") as f:
                f.write("www.life.test A\nns1.life.test A\nlife.test SOA\nnope.life.test A\n")
            perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(srv.port), "-d", qfile, "-l", "5",
                                     "-Q", "5000", "-c", "4", "-t", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            zone_path = os.path.join(srv.dir, "life.zone")
            time.sleep(0.5)
            for serial in range(2, 12):
                with open(zone_path, "w") as f:
                    f.write(zone(serial))
                srv.signal(signal.SIGHUP)
                time.sleep(0.35)
            out = perf.communicate(timeout=60)[0]
            self.assertEqual(perf.returncode, 0, out)
            self.assertIn("Queries lost:         0 ", out, out)
            completed = int(out.split("Queries completed:")[1].split()[0])
            self.assertGreater(completed, 5000, out)
            self.assertEqual(srv.read_log().count("reloaded:"), 10, srv.read_log())
            self.assertEqual(srv.ask("www.life.test.", "A").answer[0][0].address, "192.0.2.11")
        finally:
            srv.stop()


class SerialAcrossRestarts(unittest.TestCase):
    """"serial": "increment" goes on from the serial served before a restart
    (kept in the state database), not from the zone file's: secondaries that
    hold the incremented serial would refuse to go back."""

    ZONE = """$ORIGIN life.test.
$TTL 300
@    SOA ns1 hostmaster 7 3600 600 86400 60
@    NS  ns1
ns1  A   127.0.0.1
www  A   192.0.2.{last}
"""

    def serial(self, srv):
        return srv.ask("life.test.", "SOA").answer[0][0].serial

    def write(self, srv, last):
        with open(os.path.join(srv.dir, "life.zone"), "w") as f:
            f.write(self.ZONE.format(last=last))

    def restart(self, srv):
        stop_process(srv.proc)
        srv.log.close()
        srv.start()

    def test_increment_goes_on_from_the_served_serial_after_a_restart(self):
        srv = Server(zones=[("life.test", "life.zone")],
                     zone_files={"life.zone": self.ZONE.format(last=1)},
                     config_extra={"zones": [{"origin": "life.test", "file": "life.zone",
                                              "serial": "increment"}],
                                   "health": {"database": "state"}})
        try:
            srv.start()
            self.assertEqual(self.serial(srv), 7)  # the file's, at the first start
            self.write(srv, 2)                      # new data, the same serial in the file
            srv.signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while self.serial(srv) != 8 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(self.serial(srv), 8, srv.read_log())
            self.restart(srv)                       # the same data: the serial served, not 7
            self.assertEqual(self.serial(srv), 8, srv.read_log())
            self.write(srv, 3)                      # changed while stopped: one more
            self.restart(srv)
            self.assertEqual(self.serial(srv), 9, srv.read_log())
            self.assertEqual(srv.ask("www.life.test.", "A").answer[0][0].address, "192.0.2.3")
        finally:
            srv.stop()


class GracefulStop(unittest.TestCase):
    def test_sigterm_answers_tcp_queries_in_flight_and_exits_zero(self):
        srv = Server(zones=[("life.test", "life.zone")], zone_files={"life.zone": zone(1)}).start()
        try:
            s = socket.create_connection((srv.host, srv.port), timeout=5)
            frames = b""
            for i in range(50):
                q = dns.message.make_query("www.life.test.", "A")
                q.id = i
                w = q.to_wire()
                frames += struct.pack("!H", len(w)) + w
            s.sendall(frames)
            srv.signal(signal.SIGTERM)
            ids = set()
            for _ in range(50):
                frame = read_frame(s)
                self.assertIsNotNone(frame, "connection closed after %d answers" % len(ids))
                ids.add(dns.message.from_wire(frame).id)
            self.assertEqual(ids, set(range(50)))
            s.close()
            started = time.monotonic()
            self.assertEqual(srv.proc.wait(timeout=10), 0)
            self.assertLess(time.monotonic() - started, 5)
            self.assertIn("stopped", srv.read_log())
        finally:
            srv.stop()

    def test_only_the_signal_thread_takes_stop_and_reload_signals(self):
        # A thread that leaves SIGTERM unblocked takes the signal's default
        # action whenever the signal thread is busy (not in sigtimedwait): the
        # process dies at once, exit -15, no clean stop. RocksDB's background
        # threads start while the state database opens, before serving: they
        # must inherit a mask that blocks the stop and reload signals.
        srv = Server(zones=[("life.test", "life.zone")], zone_files={"life.zone": zone(1)},
                     config_extra={"health": {"database": "state"}}).start()
        try:
            pid = srv.proc.pid
            wanted = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM}
            threads, unblocked = [], {}
            for tid in os.listdir("/proc/%d/task" % pid):
                task = "/proc/%d/task/%s/" % (pid, tid)
                with open(task + "comm") as f:
                    name = f.read().strip() + "/" + tid
                threads.append(name)
                if int(tid) == pid:
                    continue  # the signal thread: unblocked while it waits in sigtimedwait
                with open(task + "status") as f:
                    mask = int(next(l for l in f if l.startswith("SigBlk:")).split()[1], 16)
                open_to = sorted(s.name for s in wanted if not mask & (1 << (s - 1)))
                if open_to:
                    unblocked[name] = open_to
            # The case this guards: threads a library started during the load.
            self.assertTrue(any(t.startswith("rocksdb") for t in threads), threads)
            self.assertEqual(unblocked, {})
            srv.signal(signal.SIGTERM)
            self.assertEqual(srv.proc.wait(timeout=10), 0)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
