"""/healthz latency while silent connections hold every slot and more, side by side.

usage: bench_healthz.py [--max-connections M] [--silent S] [--probes P] [--timeout SECS] LABEL:BINARY ...

Each binary serves a folder of 10 keys with --max-connections M and --header-timeout 120s. The
bench opens S silent TCP connections (connect, send nothing; 4 x M by default) and keeps S open: a
connection the server closes is opened again, at most 100 a second (an attacker's steady pressure,
not a flood). Then P probes, one after the other 20 ms apart, each a new connection sending
`GET /healthz` as a Kubernetes probe does, with a client timeout of SECS (1 s, Kubernetes' default);
a probe that times out counts as SECS. Prints p50 / p99 / max and the timeouts of each binary, and
the silent connections the server closed meanwhile."""
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import free_port, wait_settled

args = sys.argv[1:]
opts = {"--max-connections": 100, "--silent": None, "--probes": 300, "--timeout": 1.0}
for name in list(opts):
    if name in args:
        i = args.index(name)
        opts[name] = float(args[i + 1]) if name == "--timeout" else int(args[i + 1])
        del args[i:i + 2]
limit = opts["--max-connections"]
silent = opts["--silent"] or 4 * limit
probes, timeout = opts["--probes"], opts["--timeout"]
pairs = [a.split(":", 1) for a in args]


def keydir():
    d = tempfile.mkdtemp()
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "make_keydir.py"), d, "10"], check=True)
    return d


class Pressure:
    """Keeps `n` silent connections open to `port`, reopening closed ones at most 100/s."""

    def __init__(self, port, n):
        self.port, self.n, self.stop, self.closed = port, n, False, 0
        self.sel = selectors.DefaultSelector()
        for _ in range(n):
            self.open()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def open(self):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        self.sel.register(s, selectors.EVENT_READ)

    def run(self):
        while not self.stop:
            dead = []
            for key, _ in self.sel.select(timeout=0.01):
                try:
                    if key.fileobj.recv(4096) == b"":
                        dead.append(key.fileobj)
                except (ConnectionError, BlockingIOError):
                    dead.append(key.fileobj)
            for s in dead:
                self.sel.unregister(s)
                s.close()
                self.closed += 1
            # Top up slowly: one a tick at most.
            if len(self.sel.get_map()) < self.n:
                self.open()
            time.sleep(0.01)

    def close(self):
        self.stop = True
        self.thread.join()
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def probe(port):
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.001, timeout - (time.perf_counter() - start)))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: kube-probe/1.31\r\nConnection: close\r\n\r\n")
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        if out.startswith(b"HTTP/1.1 200"):
            return (time.perf_counter() - start) * 1000, True
    except OSError:
        pass
    return timeout * 1000, False


print(f"--max-connections {limit}, {silent} silent connections kept open, {probes} probes, client timeout {timeout} s")
print()
print("| build | p50 ms | p99 ms | max ms | timeouts | silent connections closed by the server |")
print("|---|---|---|---|---|---|")
for label, binary in pairs:
    port = free_port()
    keys = keydir()
    proc = subprocess.Popen([binary, "serve", "--no-init", "--keys", keys, "--listen", f"127.0.0.1:{port}",
                             "--max-connections", str(limit), "--header-timeout", "120s"],
                            env=dict(os.environ, RUST_LOG="error"), stderr=subprocess.DEVNULL)
    try:
        wait_settled(port)
        pressure = Pressure(port, silent)
        time.sleep(1)
        times, failed = [], 0
        for _ in range(probes):
            ms, ok = probe(port)
            times.append(ms)
            failed += not ok
            time.sleep(0.02)
        pressure.close()
    finally:
        proc.terminate()
        proc.wait()
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"| {label} | {statistics.median(times):.2f} | {p99:.2f} | {times[-1]:.2f} | {failed} of {probes} "
          f"| {pressure.closed} |", flush=True)
