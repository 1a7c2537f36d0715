"""Writes bench.test.zone and a dnsperf query file (mix: A hits, NXDOMAIN, CNAME, referral)."""
import os
import random
import sys

out = sys.argv[1]
rng = random.Random(42)
lines = ["$ORIGIN bench.test.", "$TTL 3600",
         "@ SOA ns1.bench.test. hostmaster.bench.test. 1 7200 3600 1209600 300",
         "@ NS ns1.bench.test.", "@ NS ns2.bench.test.",
         "ns1 A 127.0.0.1", "ns2 A 127.0.0.2"]
for i in range(1000):
    lines.append("host%d A 192.0.2.%d" % (i, i % 250 + 1))
    if i % 4 == 0:
        lines.append("host%d AAAA 2001:db8::%x" % (i, i))
for i in range(200):
    lines.append("alias%d CNAME host%d" % (i, rng.randrange(1000)))
for i in range(100):
    lines.append("deleg%d NS ns.deleg%d.bench.test." % (i, i))
    lines.append("ns.deleg%d A 198.51.100.%d" % (i, i % 250 + 1))
with open(os.path.join(out, "bench.test.zone"), "w") as f:
    f.write("\n".join(lines) + "\n")
queries = []
for _ in range(10000):
    r = rng.random()
    if r < 0.55:
        queries.append("host%d.bench.test A" % rng.randrange(1000))
    elif r < 0.65:
        queries.append("host%d.bench.test AAAA" % (4 * rng.randrange(250)))
    elif r < 0.80:
        queries.append("nx%d.bench.test A" % rng.randrange(100000))
    elif r < 0.90:
        queries.append("alias%d.bench.test A" % rng.randrange(200))
    else:
        queries.append("www.deleg%d.bench.test A" % rng.randrange(100))
with open(os.path.join(out, "queries.txt"), "w") as f:
    f.write("\n".join(queries) + "\n")
print(out)
