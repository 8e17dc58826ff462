"""Start-up and memory of `serve`, for one or more binaries side by side (A B A B).

usage: bench_ready.py KEYDIR BINARY [BINARY ...] [--rounds R]

For each run: spawn `serve --no-init` on KEYDIR (benches/scripts/make_keydir.py), time
until `/readyz` answers 200, then ask once for every kind of route (a Prosody
`/<sha256(kid)>.pem`, an ASAP `/<kid>`, the JWKS of every key, the JWKS of one folder),
and read the server's RSS (VmRSS) and its peak (VmHWM). The same is done on an empty
directory; per key = (RSS - empty RSS) / keys. Prints each run, then medians as a
Markdown table."""
import hashlib
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port, wait_settled



def first_kid(keydir):
    for root, dirs, files in os.walk(keydir):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".pem") and not f.startswith("."):
                rel = os.path.relpath(os.path.join(root, f), keydir)
                return rel[: -len(".pem")]
    return None


def rss_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0])
    return out["VmRSS"], out["VmHWM"]


def run(binary, keydir, kid):
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "serve", "--keys", keydir, "--no-init", "--listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
    try:
        deadline = t0 + 300
        while True:
            if time.monotonic() > deadline:
                raise SystemExit(f"{binary} not ready within 300 s")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    ready = time.monotonic() - t0
                    break
            except OSError:
                time.sleep(0.005)
        wait_settled(port)
        sizes = {}
        if kid:
            folder = kid.rsplit("/", 1)[0] if "/" in kid else ""
            paths = {"prosody": "/" + hashlib.sha256(kid.encode()).hexdigest() + ".pem", "asap": "/" + kid,
                     "jwks": "/.well-known/jwks.json"}
            if folder:
                paths["folder_jwks"] = f"/{folder}/.well-known/jwks.json"
            for name, path in paths.items():
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                sizes[name] = (r.status, len(body))
        rss, peak = rss_kib(p.pid)
        return ready, rss, peak, sizes
    finally:
        p.terminate()
        p.wait()


def main():
    args = sys.argv[1:]
    rounds = 3
    if "--rounds" in args:
        i = args.index("--rounds")
        rounds = int(args[i + 1])
        del args[i:i + 2]
    keydir, binaries = args[0], args[1:]
    kid = first_kid(keydir)
    keys = sum(1 for r, d, fs in os.walk(keydir) for f in fs if f.endswith(".pem") and not f.startswith("."))
    empty = tempfile.mkdtemp()
    results = {b: [] for b in binaries}
    base = {b: [] for b in binaries}
    for _ in range(rounds):
        for b in binaries:
            base[b].append(run(b, empty, None)[1])
            r = run(b, keydir, kid)
            results[b].append(r)
            print(f"{b}: ready {r[0]:.2f} s, RSS {r[1] / 1024:.1f} MiB (peak {r[2] / 1024:.1f} MiB), "
                  f"routes {r[3]}", flush=True)
    print()
    print(f"{keys:,} keys; medians of {rounds} runs")
    print()
    print("| binary | ready | RSS | peak RSS | empty server | per key |")
    print("|---|---|---|---|---|---|")
    for b in binaries:
        ready = statistics.median(r[0] for r in results[b])
        rss = statistics.median(r[1] for r in results[b])
        peak = statistics.median(r[2] for r in results[b])
        e = statistics.median(base[b])
        per_key = (rss - e) * 1024 / keys if keys else 0
        print(f"| {b} | {ready:.2f} s | {rss / 1024:.1f} MiB | {peak / 1024:.1f} MiB | {e / 1024:.1f} MiB "
              f"| {per_key:.0f} B ({per_key / 1024:.2f} KiB) |")
    sizes = results[binaries[-1]][-1][3]
    print()
    print("Documents (last binary):", ", ".join(f"{k} {v[0]} {v[1]:,} B" for k, v in sizes.items()))


main()
