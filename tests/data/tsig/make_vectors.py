#!/usr/bin/python3
"""Generates tests/data/tsig/vectors.txt: TSIG-signed messages made by real
implementations, for tests/unit/core/tsig_test.cc.

- dnspython (dns.tsig) signs queries, responses and a multi-message stream at
  a fixed time, so its output is reproducible; the unsigned form of each
  message is written too, so the test can check that our Signer produces the
  same bytes.
- dig (BIND) and kdig (Knot) sign queries at the current time; they are sent
  to a UDP socket of this script on 127.0.0.1 and captured (no answer is
  given; both give up after one try).

Run:  /usr/bin/python3 tests/data/tsig/make_vectors.py > tests/data/tsig/vectors.txt
Each line: <vector> <field> <value>; fields: wire (hex), unsigned (hex),
now (seconds), key (key name), mac (hex, the request MAC a response covers).
"""
import base64
import socket
import subprocess
import sys
import time

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import dns.tsig

T = 1700000000  # time signed of every dnspython vector

# The keys of the test (the same in tsig_test.cc).
KEYS = {
    "tsig-key.": ("hmac-sha256", bytes(range(32))),
    "sha512-key.": ("hmac-sha512", bytes(range(64, 128))),
    "sha1-key.": ("hmac-sha1", bytes(range(20))),
    "sha224-key.": ("hmac-sha224", bytes(range(28))),
    "sha384-key.": ("hmac-sha384", bytes(range(48))),
}


def key(name):
    alg, secret = KEYS[name]
    return dns.tsig.Key(name, secret, alg)


out = []


def emit(vec, field, value):
    if isinstance(value, (bytes, bytearray)):
        value = value.hex()
    out.append(f"{vec} {field} {value}")


def at_time(t, fn):
    saved = time.time
    time.time = lambda: t
    try:
        return fn()
    finally:
        time.time = saved


def query(name, rdtype="SOA", keyname="tsig-key.", qid=0x1234, edns=False, original_id=None):
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns else None)
    q.id = qid
    unsigned = q.to_wire()
    q.use_tsig(key(keyname), original_id=original_id)
    wire = at_time(T, q.to_wire)
    return q, unsigned, wire


# ---- requests signed by dnspython ----
for vec, keyname in [("dnspython-sha256", "tsig-key."), ("dnspython-sha512", "sha512-key."),
                     ("dnspython-sha1", "sha1-key."), ("dnspython-sha224", "sha224-key."),
                     ("dnspython-sha384", "sha384-key.")]:
    q, unsigned, wire = query("example.test.", keyname=keyname)
    emit(vec, "key", keyname)
    emit(vec, "now", T)
    emit(vec, "unsigned", unsigned)
    emit(vec, "wire", wire)

# An AXFR request with EDNS, forwarded: the original ID differs from the ID.
q, unsigned, wire = query("example.test.", "AXFR", edns=True, original_id=0x0BAD)
emit("dnspython-forwarded", "key", "tsig-key.")
emit("dnspython-forwarded", "now", T)
emit("dnspython-forwarded", "wire", wire)

# The key name as the client spells it: the MAC covers the lowercase form.
upper = dns.tsig.Key("TSIG-Key.", KEYS["tsig-key."][1], "hmac-sha256")
q = dns.message.make_query("example.test.", "SOA")
q.id = 7
q.use_tsig(upper)
emit("dnspython-uppercase-key", "key", "tsig-key.")
emit("dnspython-uppercase-key", "now", T)
emit("dnspython-uppercase-key", "wire", at_time(T, q.to_wire))

# ---- a response to dnspython-sha256, and a three-message stream ----
q, _, qwire = query("example.test.", "AXFR")
emit("response", "key", "tsig-key.")
emit("response", "mac", q.mac)
emit("response", "now", T)
r = dns.message.make_response(q)
r.flags |= dns.flags.AA
r.answer.append(dns.rrset.from_text("example.test.", 60, "IN", "SOA",
                                    "ns.example.test. h.example.test. 1 2 3 4 5"))
r.request_mac = q.mac
r.tsig = None  # make_response copies the query's TSIG settings
emit("response", "unsigned", r.to_wire())
r.use_tsig(key("tsig-key."))
emit("response", "wire", at_time(T, r.to_wire))

# The stream: messages 1 and 3 signed, message 2 unsigned (RFC 8945 5.3.1
# allows up to 99 unsigned messages between signed ones), then message 4
# signed; and a second stream with every message signed.
def stream(signed_mask, vec):
    emit(vec, "key", "tsig-key.")
    emit(vec, "mac", q.mac)
    emit(vec, "now", T)
    ctx = None
    for i, signed in enumerate(signed_mask):
        m = dns.message.make_response(q)
        m.flags |= dns.flags.AA
        if i > 0:
            m.question = []
        m.answer.append(dns.rrset.from_text(f"n{i}.example.test.", 60, "IN", "A", f"192.0.2.{i + 1}"))
        m.request_mac = q.mac
        m.tsig = None  # make_response copies the query's TSIG settings
        unsigned = m.to_wire()
        emit(vec, f"unsigned{i}", unsigned)
        if signed:
            m.use_tsig(key("tsig-key."))
            wire = at_time(T + i, lambda: m.to_wire(multi=True, tsig_ctx=ctx))
            ctx = m.tsig_ctx
        else:
            wire = unsigned
            ctx.update(wire)  # what a receiver does with an unsigned message
        emit(vec, f"wire{i}", wire)


stream([True, True, True], "stream")
stream([True, False, True], "stream-gap")


# ---- queries signed by dig (BIND) and kdig (Knot), captured on loopback ----
def capture(argv_for_port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    port = s.getsockname()[1]
    p = subprocess.Popen(argv_for_port(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        data, _ = s.recvfrom(65535)
    finally:
        p.kill()
        p.wait()
        s.close()
    return data


def time_signed(wire):
    # Parsed (and so validated) by dnspython at the current time: they were
    # signed a moment ago.
    msg = dns.message.from_wire(wire, keyring=lambda m, n: key(str(n).lower()))
    return msg.tsig[0].time_signed


secret256 = base64.b64encode(KEYS["tsig-key."][1]).decode()
secret512 = base64.b64encode(KEYS["sha512-key."][1]).decode()
for vec, argv in [
    ("dig-sha256", lambda port: ["dig", "-y", f"hmac-sha256:tsig-key:{secret256}", "@127.0.0.1",
                                 "-p", str(port), "example.test", "SOA", "+tries=1", "+time=2"]),
    ("kdig-sha512", lambda port: ["kdig", "-y", f"hmac-sha512:sha512-key:{secret512}", "@127.0.0.1",
                                  "-p", str(port), "example.test", "SOA", "+retry=0", "+time=2"]),
]:
    wire = capture(argv)
    emit(vec, "key", "tsig-key." if "256" in vec else "sha512-key.")
    emit(vec, "now", time_signed(wire))
    emit(vec, "wire", wire)

print("# generated by tests/data/tsig/make_vectors.py; see its docstring")
print("\n".join(out))
