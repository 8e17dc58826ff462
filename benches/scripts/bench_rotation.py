"""Rotation latency: a key file dropped, replaced or deleted -> what the server serves.
usage: bench_rotation.py BINARY WORKDIR [OPS]   (called by scripts/bench-rotation)
For 10 and 100,000 keys (BENCH_SIZES=10,100000; add 1000000 for the opt-in million), times OPS operations of each kind from the rename/unlink to the
first answer that reflects it (polling over one keep-alive connection), and prints p50/p99/max."""
import http.client
import os
import statistics
import subprocess
import sys
import time

from benchlib import free_port

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
import hashlib

binary, work = sys.argv[1], sys.argv[2]
ops = int(sys.argv[3]) if len(sys.argv) > 3 else 40
here = os.path.dirname(os.path.abspath(__file__))
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "10,100000").split(",")]
pems = [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) for _ in range(4)]



def path_of(kid):
    return "/" + hashlib.sha256(kid.encode()).hexdigest() + ".pem"


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


rows = []
for n in SIZES:
    keys = os.path.join(work, f"keys-{n}")
    if not os.path.isdir(keys):
        subprocess.run([sys.executable, os.path.join(here, "make_keydir.py"), keys, str(n)], check=True)
    rot = os.path.join(keys, "rot")
    os.makedirs(rot, exist_ok=True)
    for f in os.listdir(rot):
        os.unlink(os.path.join(rot, f))
    port = free_port()
    server = subprocess.Popen([binary, "serve", "--no-init", "--keys", keys, "--listen", f"127.0.0.1:{port}"],
                              env=dict(os.environ, RUST_LOG="warn"), stderr=subprocess.DEVNULL)
    conn = None
    for _ in range(6000):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/metrics")
            body = conn.getresponse().read().decode()
            # Every key served, and the walk once the watch is placed done
            # (binaries without the counter: keys served is enough).
            walks = [l for l in body.splitlines() if l.startswith("asap_keyserver_full_walks_total ")]
            if f"asap_keyserver_keys {n}\n" in body and (not walks or int(walks[0].split()[1]) >= 2):
                break
        except OSError:
            pass
        time.sleep(0.01)

    def get(path):
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()

    def wait_for(path, check):
        while True:
            status, body = get(path)
            if check(status, body):
                return

    times = {"drop": [], "replace": [], "delete": []}
    for i in range(ops):
        kid = f"rot/k{i:03d}"
        final = os.path.join(rot, f"k{i:03d}.pem")
        tmp = os.path.join(rot, f".k{i:03d}.tmp")
        # drop: write aside, rename in, time until served
        open(tmp, "wb").write(pems[i % 4])
        t0 = time.perf_counter()
        os.rename(tmp, final)
        wait_for(path_of(kid), lambda s, b: s == 200)
        times["drop"].append(time.perf_counter() - t0)
        time.sleep(0.05)
        # replace by rename: time until the new key is served
        new = pems[(i + 1) % 4]
        open(tmp, "wb").write(new)
        t0 = time.perf_counter()
        os.rename(tmp, final)
        wait_for(path_of(kid), lambda s, b: s == 200 and b == new)
        times["replace"].append(time.perf_counter() - t0)
        time.sleep(0.05)
        # delete: time until 404
        t0 = time.perf_counter()
        os.unlink(final)
        wait_for(path_of(kid), lambda s, b: s == 404)
        times["delete"].append(time.perf_counter() - t0)
        time.sleep(0.05)
    server.terminate()
    server.wait()
    allt = [t for v in times.values() for t in v]
    for kind, v in list(times.items()) + [("all", allt)]:
        rows.append((n, kind, len(v), statistics.median(v) * 1000, pct(v, 99) * 1000, max(v) * 1000))
        print(f"{n:>7} keys {kind:8} p50 {statistics.median(v) * 1000:7.1f} ms  p99 {pct(v, 99) * 1000:7.1f} ms  max {max(v) * 1000:7.1f} ms", flush=True)

print()
print("| keys | change | count | p50 | p99 | max |")
print("|---|---|---|---|---|---|")
for n, kind, count, p50, p99, mx in rows:
    print(f"| {n:,} | {kind} | {count} | {p50:.1f} ms | {p99:.1f} ms | {mx:.1f} ms |")
