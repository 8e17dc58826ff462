"""The mint API over keep-alive HTTP, side by side (issue 20's numbers).

usage: bench_mint.py BINARY [--rounds R] [--seconds S]   (called by scripts/bench-mint-api)

1. `openssl speed -seconds 5 -multi 2 rsa2048`, once, for reference.
2. POST /mint with wrk (Lua script, 16 keep-alive connections, one thread): our
   `serve --config` and the Node.js baseline (benches/node-mint: node http +
   jsonwebtoken 9.0.3 RS256 given the PEM, same bearer check, body and claims),
   both up at once, and `openssl speed -seconds 5 rsa2048` (one process), runs
   alternated A B C A B C; medians, and the median of each round's ratios (the
   machine's load changes between rounds, not within one).
3. `serve` with and without --config: keep-alive GET of one key's Prosody path
   (64 connections), alternated; medians, and each server's RSS after.
Every server runs on 127.0.0.1 on this machine, as the load generator does."""
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import bench_args, free_port, wait_settled

binary, rounds, seconds = bench_args(sys.argv[1:])
here = os.path.dirname(os.path.abspath(__file__))
node_dir = os.path.join(here, "..", "node-mint")
work = tempfile.mkdtemp()
keys = os.path.join(work, "keys")
kid = "jitsi/2026-01-01"
subprocess.run([binary, "keygen", kid, "--keys", keys], check=True, capture_output=True)
secret = hashlib.sha256(os.urandom(32)).hexdigest()
open(os.path.join(work, "backend.secret"), "w").write(secret + "\n")
config = os.path.join(work, "service.toml")
open(config, "w").write(f"""min_key_age = "0s"
[mint]
[[mint.clients]]
name = "bench"
secret_file = "backend.secret"
issuers = ["jitsi"]
rooms = ["*"]
max_ttl = "1h"
rate = "100000000/s"
""")
body = json.dumps({"room": "standup", "user": {"id": "u1", "name": "Ada", "email": "ada@example.com"},
                   "moderator": True, "ttl": 3600})
lua = os.path.join(work, "post.lua")
open(lua, "w").write(f"""
wrk.method = "POST"
wrk.body = {json.dumps(body)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {secret}"
local bad = 0
response = function(status, headers, body) if status ~= 200 then bad = bad + 1 end end
done = function(summary, latency, requests) io.write(string.format("non200 %d\\n", bad)) end
""")


def wrk(url, connections, script=None):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx or "non200 0" not in out and script == lua:
        raise SystemExit(f"{url}: failed requests:\n{out}")
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    return rps, p99


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def serve(port, extra):
    return subprocess.Popen([binary, "serve", "--no-init", "--keys", keys, "--listen", f"127.0.0.1:{port}"] + extra,
                            env=dict(os.environ, RUST_LOG="warn"), stderr=subprocess.DEVNULL)


def openssl_speed(multi=()):
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), *multi, "rsa2048"],
                         capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("rsa 2048")][-1]
    return float(re.findall(r"[\d.]+", line)[3])


print(f"== openssl speed -seconds {seconds} -multi 2 rsa2048: {openssl_speed(['-multi', '2']):,.0f} sign/s", flush=True)

procs = []
try:
    ours_port, node_port = free_port(), free_port()
    procs.append(serve(ours_port, ["--config", config]))
    procs.append(subprocess.Popen(["node", os.path.join(node_dir, "server.js"), str(node_port),
                                   os.path.join(keys, kid + ".pem"), kid, secret], stderr=subprocess.DEVNULL))
    wait_settled(ours_port)
    time.sleep(1)
    print(f"== POST /mint, wrk -t1 -c16 -d{seconds}s, {rounds} rounds alternated with openssl speed rsa2048 "
          "(one process)", flush=True)
    ours, node, speed = [], [], []
    for port in (ours_port, node_port):  # warm-up: key parsed, JIT compiled
        subprocess.run(["wrk", "-t1", "-c16", "-d2s", "-s", lua, f"http://127.0.0.1:{port}/mint"], capture_output=True)
    for _ in range(rounds):
        for name, port, res in (("asap-keyserver", ours_port, ours), ("node+jsonwebtoken", node_port, node)):
            rps, p99 = wrk(f"http://127.0.0.1:{port}/mint", 16, lua)
            res.append(rps)
            print(f"{name}: {rps:,.0f} tokens/s (p99 {p99})", flush=True)
        speed.append(openssl_speed())
        print(f"openssl speed rsa2048: {speed[-1]:,.0f} sign/s", flush=True)
    o, n, sp = statistics.median(ours), statistics.median(node), statistics.median(speed)
    vs_node = statistics.median(a / b for a, b in zip(ours, node))
    vs_openssl = statistics.median(a / b for a, b in zip(ours, speed))
    print(f"median: asap-keyserver {o:,.0f} tokens/s, node {n:,.0f} tokens/s, openssl {sp:,.0f} sign/s; "
          f"median of the rounds' ratios: {vs_node:.2f}x node, {vs_openssl:.2f}x openssl speed rsa2048 (one process)",
          flush=True)
finally:
    for p in procs:
        p.terminate()
        p.wait()

procs = []
try:
    off_port, on_port = free_port(), free_port()
    off, on = serve(off_port, []), serve(on_port, ["--config", config])
    procs = [off, on]
    wait_settled(off_port)
    wait_settled(on_port)
    path = "/" + hashlib.sha256(kid.encode()).hexdigest() + ".pem"
    print(f"== GET {path[:12]}... keep-alive, wrk -t1 -c64 -d{seconds}s, serve without and with --config", flush=True)
    res = {"without": [], "with": []}
    for _ in range(rounds):
        for name, port in (("without", off_port), ("with", on_port)):
            rps, p99 = wrk(f"http://127.0.0.1:{port}{path}", 64)
            res[name].append(rps)
            print(f"{name} --config: {rps:,.0f} req/s (p99 {p99})", flush=True)
    a, b = statistics.median(res["without"]), statistics.median(res["with"])
    print(f"median: without {a:,.0f} req/s, with {b:,.0f} req/s: {b / a:.2f}x; "
          f"RSS without {rss_kib(off.pid)} KiB, with {rss_kib(on.pid)} KiB", flush=True)
finally:
    for p in procs:
        p.terminate()
        p.wait()
