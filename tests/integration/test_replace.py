"""Zero-downtime replace (issue 15 item 5): a new geodnsd takes the running
one's listening sockets over its control socket (SCM_RIGHTS), serves, and
tells the old one to stop; dnsperf at 5,000 qps across the replace loses no
query. Also socket activation as systemd does it (LISTEN_FDS, LISTEN_PID) with
sd_notify readiness. dnsperf must be installed: without it the suite fails.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import dns.message
import dns.query

from harness import GEODNSD, Server, free_port, run_suite, stop_process

DNSPERF = shutil.which("dnsperf") or "/usr/bin/dnsperf"


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("%s: not within %.0f s" % (what, timeout))


class Replace(unittest.TestCase):
    def setUp(self):
        if not os.access(DNSPERF, os.X_OK):
            raise AssertionError("dnsperf is needed (scripts/install-deps installs it)")
        self.srv = Server(workers=2)
        self.control = os.path.join(self.srv.dir, "control.sock")
        self.srv.extra_args = ["--control-socket", self.control]
        self.srv.start()
        self.new = None

    def tearDown(self):
        stop_process(self.new)
        self.srv.stop()

    def start_successor(self):
        self.new_log = open(os.path.join(self.srv.dir, "new.log"), "a")
        self.new = subprocess.Popen([GEODNSD, "--config", self.srv.config_path, "--control-socket",
                                     self.control, "--replace"], stdout=self.new_log,
                                    stderr=subprocess.STDOUT)

    def new_log_text(self):
        with open(os.path.join(self.srv.dir, "new.log")) as f:
            return f.read()

    def test_replace_under_load_loses_no_query(self):
        qfile = os.path.join(self.srv.dir, "queries")
        with open(qfile, "w") as f:
            for name in ("www.example.test A", "mail.example.test AAAA", "example.test SOA",
                         "nope.example.test A", "www.child.example.test A"):
                f.write(name + "\n")
        perf = subprocess.Popen([DNSPERF, "-s", "127.0.0.1", "-p", str(self.srv.port), "-d", qfile,
                                 "-Q", "5000", "-l", "6", "-t", "2", "-c", "4"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(2)  # load first (a bounded wait: dnsperf runs 6 s)
            old_pid = self.srv.proc.pid
            self.start_successor()
            # The old one exits 0 once the new one serves.
            self.assertEqual(self.srv.proc.wait(timeout=20), 0, self.srv.read_log())
            self.assertIsNone(self.new.poll(), self.new_log_text())
            out, _ = perf.communicate(timeout=30)
        finally:
            stop_process(perf)
        sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
        completed = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
        lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
        self.assertGreater(sent, 25000, out)  # 5,000 qps for 6 s, loosely
        self.assertEqual(lost, 0, out)
        self.assertEqual(completed, sent, out)
        self.assertIn("replace: the successor serves; stopping", self.srv.read_log())
        self.assertIn("replace: took", self.new_log_text())
        # The successor answers over UDP and TCP on the same port, and is itself replaceable.
        q = dns.message.make_query("www.example.test.", "A")
        self.assertTrue(dns.query.udp(q, "127.0.0.1", port=self.srv.port, timeout=2).answer)
        self.assertTrue(dns.query.tcp(q, "127.0.0.1", port=self.srv.port, timeout=2).answer)
        self.assertNotEqual(self.new.pid, old_pid)

    def test_successor_with_a_broken_config_leaves_the_old_one_serving(self):
        bad = os.path.join(self.srv.dir, "bad.json")
        with open(bad, "w") as f:
            f.write('{"listen": ["127.0.0.1:%d"], "zones": [{"origin": "example.test"}]}' % self.srv.port)
        r = subprocess.run([GEODNSD, "--config", bad, "--control-socket", self.control, "--replace"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIsNone(self.srv.proc.poll())
        q = dns.message.make_query("www.example.test.", "A")
        self.assertTrue(dns.query.udp(q, "127.0.0.1", port=self.srv.port, timeout=2).answer)


class SocketActivation(unittest.TestCase):
    """systemd passes bound sockets as fds 3.. with LISTEN_FDS and LISTEN_PID,
    and waits for READY=1 on NOTIFY_SOCKET."""

    def test_serves_on_passed_sockets_and_reports_ready(self):
        d = tempfile.mkdtemp(prefix="geodnsd-sa-")
        port = free_port()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", port))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.1", port))
        tcp.listen(64)
        notify_path = os.path.join(d, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        srv = Server(workers=1)
        srv.listen[0] = "127.0.0.1:%d" % port
        import json
        with open(srv.config_path) as f:
            cfg = json.load(f)
        cfg["listen"] = ["127.0.0.1:%d" % port]
        with open(srv.config_path, "w") as f:
            json.dump(cfg, f)
        ufd, tfd = udp.fileno(), tcp.fileno()

        def child_fds():
            os.dup2(ufd, 3)
            os.dup2(tfd, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        env = dict(os.environ, LISTEN_FDS="2", NOTIFY_SOCKET=notify_path)
        log = open(os.path.join(d, "log"), "w")
        # LISTEN_PID must be the server's own PID: the shell's, which exec keeps.
        proc = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', GEODNSD, "--config",
                                 srv.config_path], env=env, preexec_fn=child_fds, pass_fds=(),
                                stdout=log, stderr=subprocess.STDOUT, close_fds=False)
        try:
            udp.close()  # only the server holds them now
            tcp.close()
            notify.settimeout(10)
            msg = notify.recv(4096).decode()
            self.assertIn("READY=1", msg)
            q = dns.message.make_query("www.example.test.", "A")
            self.assertTrue(dns.query.udp(q, "127.0.0.1", port=port, timeout=2).answer)
            self.assertTrue(dns.query.tcp(q, "127.0.0.1", port=port, timeout=2).answer)
            with open(os.path.join(d, "log")) as f:
                self.assertIn("socket activation: 2 socket(s) from systemd", f.read())
        finally:
            stop_process(proc)
            log.close()
            notify.close()
            shutil.rmtree(d, ignore_errors=True)
            srv.stop()


if __name__ == "__main__":
    raise SystemExit(run_suite(["test_replace"]))
