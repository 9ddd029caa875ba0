#!/usr/bin/env python3
"""lab/latency-proxy.py: a TCP forwarder that makes lab hosts feel far away.

The lab's hosts are 0.1 ms from the operator; real ones are 20-200 ms away, and then a deployment's
time is counted in round trips. The lab kernel has no netem, so this forwarder (run in the ops
namespace, in front of each host's sshd) delays every chunk by RTT/2 in each direction, keeping
order, with unlimited bandwidth.

The TCP handshake is modelled too: the client's connect() to this proxy is local and instant, but a
real one costs a round trip before the client can send anything, and the server only accepts (and
sends its banner) once the client's ACK arrives, half a round trip later. So the upstream connection
is opened `--handshake-rtts` x RTT + RTT/2 after the accept, and bytes the client sent meanwhile
reach the server then (as if sent once connect() returned); everything after that is RTT/2 late.

One process serves many listen ports (one per host):

    latency-proxy.py --rtt-ms 100 --listen 198.18.0.254 \
        --map 20001=198.18.0.1:22 --map 20002=198.18.0.2:22 ...
    latency-proxy.py --rtt-ms 100 --listen 198.18.0.254 --map-file MAPS   # one LPORT=HOST:PORT a line

It prints "ready" on stdout once every port listens. Python 3 standard library only.
"""

import argparse
import asyncio
import signal
import socket
import sys
import time

CHUNK = 65536


TRACE = None


MSS = 1448


class Direction:
    """One direction of one connection: chunks queued with the time they may be delivered.

    With `initcwnd` (segments; 0 = unlimited), TCP's slow start too: in one round trip the sender
    may send at most its congestion window, which starts at `initcwnd` segments and doubles after
    each round that used it all (Linux grows it only while the window is what limits the sender),
    and falls back to `initcwnd` after an idle of more than RTT + 200 ms (RTO; Linux's
    tcp_slow_start_after_idle). A write larger than the window waits a round trip per window.
    """

    def __init__(self, delay, not_before, name="", initcwnd=0):
        self.delay = delay
        self.not_before = not_before
        self.queue = asyncio.Queue()
        self.name = name
        self.initcwnd = initcwnd * MSS
        self.cwnd = self.initcwnd
        self.round_end = 0.0
        self.budget = 0
        self.filled = False
        self.last_sent = 0.0

    def put(self, data):
        now = time.monotonic()
        if TRACE is not None:
            print(f"{now - TRACE:9.4f} {self.name} {len(data)}", file=sys.stderr, flush=True)
        if not self.initcwnd or not data:
            self.queue.put_nowait((max(now + self.delay, self.not_before, self.last_sent + self.delay), data))
            return
        # When the bytes may leave the sender: not before the server side exists, in order.
        start = max(now, self.not_before - self.delay, self.last_sent)
        if start - self.last_sent > 2 * self.delay + 0.2:
            self.cwnd = self.initcwnd
        offset = 0
        while offset < len(data):
            if start >= self.round_end:
                if self.filled:
                    self.cwnd *= 2
                self.round_end = start + 2 * self.delay
                self.budget = self.cwnd
                self.filled = False
            take = min(len(data) - offset, self.budget)
            if take == 0:
                self.filled = True
                start = self.round_end
                continue
            self.budget -= take
            self.queue.put_nowait((start + self.delay, data[offset:offset + take]))
            offset += take
        self.last_sent = start


async def pump(reader, direction):
    """Reads until EOF, queueing each chunk (b"" marks EOF)."""
    try:
        while True:
            data = await reader.read(CHUNK)
            direction.put(data)
            if not data:
                return
    except (ConnectionError, OSError):
        direction.put(b"")


async def deliver(direction, writer):
    """Writes queued chunks at their due time, in order; half-closes at EOF."""
    try:
        while True:
            due, data = await direction.queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        return


async def handle(client_reader, client_writer, target, rtt, handshake_rtts, initcwnd):
    accepted = time.monotonic()
    one_way = rtt / 2
    # When the server would see the client's ACK: the upstream connection starts then.
    server_sees = accepted + handshake_rtts * rtt + one_way
    port = client_writer.get_extra_info("sockname")[1]
    up = Direction(one_way, server_sees, f"{port} client>", initcwnd)
    down = Direction(one_way, 0.0, f"{port} <server", initcwnd)
    upstream_task = asyncio.ensure_future(pump(client_reader, up))
    wait = server_sees - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        upstream_task.cancel()
        client_writer.close()
        return
    for writer in (server_writer, client_writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tasks = [
        upstream_task,
        asyncio.ensure_future(deliver(up, server_writer)),
        asyncio.ensure_future(pump(server_reader, down)),
        asyncio.ensure_future(deliver(down, client_writer)),
    ]
    # Done when both directions delivered their EOF (or a side broke).
    await asyncio.gather(tasks[1], tasks[3], return_exceptions=True)
    for task in tasks:
        task.cancel()
    for writer in (server_writer, client_writer):
        try:
            writer.close()
        except OSError:
            pass


def parse_map(text):
    try:
        port, target = text.strip().split("=", 1)
        host, tport = target.rsplit(":", 1)
        return int(port), (host, int(tport))
    except ValueError:
        sys.exit(f"latency-proxy: bad mapping {text!r} (want LPORT=HOST:PORT)")


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rtt-ms", type=float, required=True, help="round-trip time to add")
    parser.add_argument("--handshake-rtts", type=float, default=1.0,
                        help="round trips the TCP handshake costs (default 1)")
    parser.add_argument("--initcwnd", type=int, default=0,
                        help="model TCP slow start from this initial congestion window in segments "
                             "of 1448 bytes (Linux: 10; default 0: unlimited bandwidth)")
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--map", action="append", default=[], help="LPORT=HOST:PORT")
    parser.add_argument("--map-file", help="file of LPORT=HOST:PORT lines")
    parser.add_argument("--trace", action="store_true",
                        help="log every chunk read (time, port, direction, bytes) on stderr")
    args = parser.parse_args()
    if args.trace:
        global TRACE
        TRACE = time.monotonic()
    maps = [parse_map(m) for m in args.map]
    if args.map_file:
        with open(args.map_file) as f:
            maps += [parse_map(line) for line in f if line.strip()]
    if not maps:
        sys.exit("latency-proxy: nothing to forward (--map or --map-file)")
    rtt = args.rtt_ms / 1000.0
    servers = []
    for port, target in maps:
        def handler(r, w, target=target):
            return handle(r, w, target, rtt, args.handshake_rtts, args.initcwnd)
        servers.append(await asyncio.start_server(handler, args.listen, port, backlog=1024))
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
