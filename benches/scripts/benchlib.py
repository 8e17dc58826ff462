"""Helpers shared by the benchmark scripts in this folder."""
import http.client
import os
import re
import socket
import time


def bench_args(argv):
    """`BINARY [--rounds R] [--seconds S]`: the binary's absolute path, rounds (3) and seconds (5)."""
    args = list(argv)
    binary = os.path.abspath(args.pop(0))
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 3
    seconds = int(args[args.index("--seconds") + 1]) if "--seconds" in args else 5
    return binary, rounds, seconds


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_settled(port, timeout=600):
    """Waits until the server on `port` has finished its start-up walks (the first scan,
    and the one once the watch is placed: asap_keyserver_full_walks_total >= 2). A binary
    without that counter gets 5 seconds once it answers /metrics."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
            m = re.search(r"^asap_keyserver_full_walks_total (\d+)", text, re.M)
            if m is None and "asap_keyserver_keys" in text:
                time.sleep(5)
                return
            if m and int(m.group(1)) >= 2:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server on port {port} did not settle within {timeout} s")
