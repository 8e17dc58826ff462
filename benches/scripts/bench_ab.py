"""Keep-alive serving, side by side: several servers (binary and key folder each) up at
once, wrk runs alternated A B A B, medians.

usage: bench_ab.py [--rounds R] BINARY:KEYDIR BINARY:KEYDIR ...

E.g. the same binary at 100,000 and 1,000,000 keys, or two builds on one folder. Every
server is asked for the same 1,000 Prosody paths (the first kids of bench/d000,
bench/d001: benches/scripts/make_keydir.py), 64 connections, 5 s per run. Waits for each
server's start-up walks to finish first."""
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile

from benchlib import wait_settled

args = sys.argv[1:]
rounds = 4
if "--rounds" in args:
    i = args.index("--rounds")
    rounds = int(args[i + 1])
    del args[i:i + 2]
pairs = [a.split(":", 1) for a in args]
work = tempfile.mkdtemp()
kids = [f"bench/d{i // 1000:03d}/k{i:06d}" for i in range(1000)]
paths = os.path.join(work, "paths")
open(paths, "w").write("".join(f"/{hashlib.sha256(k.encode()).hexdigest()}.pem\n" for k in kids))
lua = os.path.join(work, "load.lua")
open(lua, "w").write("""
local paths = {}
for line in io.lines(os.getenv("AB_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function() i = i + 1; return wrk.format("GET", paths[(i % #paths) + 1]) end
""")

procs, ports = [], []
for n, (binary, keys) in enumerate(pairs):
    port = 19500 + n
    procs.append(subprocess.Popen([binary, "serve", "--no-init", "--keys", keys, "--listen", f"127.0.0.1:{port}",
                                   "--max-connections", "20000"],
                                  env=dict(os.environ, RUST_LOG="warn"), stderr=subprocess.DEVNULL))
    ports.append(port)
try:
    for port in ports:
        wait_settled(port)
    results = {port: [] for port in ports}
    for _ in range(rounds):
        for (binary, keys), port in zip(pairs, ports):
            out = subprocess.run(["wrk", "-t1", "-c64", "-d5s", "-s", lua, f"http://127.0.0.1:{port}"],
                                 env=dict(os.environ, AB_PATHS=paths), capture_output=True, text=True).stdout
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            results[port].append(rps)
            print(f"{binary} {keys}: {rps:,.0f} req/s", flush=True)
finally:
    for p in procs:
        p.terminate()
        p.wait()
print()
first = statistics.median(results[ports[0]])
print("| binary | keys | req/s (median) | ratio to the first |")
print("|---|---|---|---|")
for (binary, keys), port in zip(pairs, ports):
    m = statistics.median(results[port])
    print(f"| {binary} | {keys} | {m:,.0f} | {m / first:.2f}x |")
