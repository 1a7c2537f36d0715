"""Holds N probe targets on distinct loopback addresses (127.0.x.y, one port).

  tcp:  listeners that never accept: the kernel completes each probe's
        handshake, so the targets cost no user-space CPU during the bench.
  http: an asyncio server answering every request with 200 "ok".

Prints "ready" and runs until killed."""
import asyncio
import resource
import socket
import sys
import time

n, port = int(sys.argv[1]), int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "tcp"
resource.setrlimit(resource.RLIMIT_NOFILE, (4 * n + 100, 4 * n + 100))
addrs = ["127.0.%d.%d" % (1 + i // 250, 1 + i % 250) for i in range(n)]

if mode == "tcp":
    socks = []
    for a in addrs:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a, port))
        s.listen(4096)
        socks.append(s)
    print("ready", flush=True)
    while True:
        time.sleep(3600)

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport

    def data_received(self, data):
        if b"\r\n\r\n" in data:
            self.t.write(RESPONSE)
            self.t.close()


async def main():
    loop = asyncio.get_running_loop()
    for a in addrs:
        await loop.create_server(Http, a, port, backlog=1024)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
