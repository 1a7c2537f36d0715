"""Holds N TCP listeners on distinct loopback addresses (127.0.x.y:PORT) that
never accept: the kernel completes each probe's handshake, so the targets cost
no user-space CPU during the bench. Prints "ready" and runs until killed."""
import resource
import socket
import sys
import time

n, port = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.%d.%d" % (1 + i // 250, 1 + i % 250), port))
    s.listen(4096)
    socks.append(s)
print("ready", flush=True)
while True:
    time.sleep(3600)
