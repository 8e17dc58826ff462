"""The mint API (POST /mint) of several builds, side by side: every binary serves the same key
folder and config at once, wrk runs alternated A B A B, medians and the ratio to the first.

usage: bench_mint_ab.py [--rounds R] [--seconds S] BINARY BINARY ...

One RSA-2048 key (jitsi/2026-01-01), one client with a wide policy, the body of bench_mint.py;
wrk -t1 -c16. Compare a change with main before it: build both in release, run them here."""
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from benchlib import free_port, wait_settled

args = sys.argv[1:]
rounds, seconds = 5, 5
for flag in ("--rounds", "--seconds"):
    if flag in args:
        i = args.index(flag)
        value = int(args[i + 1])
        del args[i:i + 2]
        rounds, seconds = (value, seconds) if flag == "--rounds" else (rounds, value)
binaries = [os.path.abspath(b) for b in args]
work = tempfile.mkdtemp()
keys = os.path.join(work, "keys")
subprocess.run([binaries[0], "keygen", "jitsi/2026-01-01", "--keys", keys], check=True, capture_output=True)
secret = hashlib.sha256(os.urandom(32)).hexdigest()
open(os.path.join(work, "backend.secret"), "w").write(secret + "\n")
config = os.path.join(work, "service.toml")
open(config, "w").write("""min_key_age = "0s"
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
""")

procs, ports = [], []
for binary in binaries:
    port = free_port()
    procs.append(subprocess.Popen([binary, "serve", "--no-init", "--keys", keys, "--listen", f"127.0.0.1:{port}",
                                   "--config", config],
                                  env=dict(os.environ, RUST_LOG="warn"), stderr=subprocess.DEVNULL))
    ports.append(port)
try:
    for port in ports:
        wait_settled(port)
    for port in ports:  # warm-up: the key parsed and cached
        subprocess.run(["wrk", "-t1", "-c16", "-d2s", "-s", lua, f"http://127.0.0.1:{port}/mint"], capture_output=True)
    results = {port: [] for port in ports}
    for _ in range(rounds):
        for binary, port in zip(binaries, ports):
            out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", lua, f"http://127.0.0.1:{port}/mint"],
                                 capture_output=True, text=True).stdout
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            if "Non-2xx" in out:
                raise SystemExit(f"{binary}: non-2xx answers to POST /mint:\n{out}")
            results[port].append(rps)
            print(f"{binary}: {rps:,.0f} tokens/s", flush=True)
finally:
    for p in procs:
        p.terminate()
        p.wait()
print()
first = statistics.median(results[ports[0]])
print("| binary | tokens/s (median) | ratio to the first |")
print("|---|---|---|")
for binary, port in zip(binaries, ports):
    m = statistics.median(results[port])
    print(f"| {binary} | {m:,.0f} | {m / first:.2f}x |")
