"""Serving benchmark: asap-keyserver vs nginx, side by side, runs alternated A B A B.
usage: bench_http.py BINARY WORKDIR SECONDS  (called by scripts/bench-http)
Prints a Markdown table of medians and ratios (ours / nginx).
Environment: BENCH_SIZES (10,1000,100000), BENCH_ROUNDS (2), BENCH_SCENARIOS (all four),
BENCH_NGINX=0 to measure ours alone (e.g. BENCH_SIZES=100000,1000000 BENCH_SCENARIOS=keep-alive
for the 1,000,000-key throughput, which needs no exported copy)."""
import hashlib
import os
import re
import socket
import statistics
import subprocess
import sys
import time

from benchlib import free_port, wait_settled

binary, work, secs = sys.argv[1], sys.argv[2], int(sys.argv[3])
here = os.path.dirname(os.path.abspath(__file__))
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "10,1000,100000").split(",")]
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "keep-alive,connection-close,404,304").split(",")
NGINX = os.environ.get("BENCH_NGINX", "1") != "0"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))



def wait_up(port):
    for _ in range(3000):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing listens on {port}")


LUA = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local headers = {}
local scenario = os.getenv("BENCH_SCENARIO")
if scenario == "connection-close" then headers["Connection"] = "close" end
if scenario == "304" then headers["If-Modified-Since"] = "Fri, 01 Jan 2100 00:00:00 GMT" end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end
"""


def wrk(port, scenario, paths_file):
    env = dict(os.environ, BENCH_PATHS=paths_file, BENCH_SCENARIO=scenario)
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{secs}s", "--latency", "-s", os.path.join(work, "bench.lua"), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, env=env, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(errors.group(1)) if errors else 0
    sock_err = re.search(r"Socket errors: (.*)", out)
    return rps, p99, non2xx, (sock_err.group(1) if sock_err else "")


def nginx_conf(root, port):
    w = os.path.join(work, "nginx")
    os.makedirs(w, exist_ok=True)
    conf = f"""
daemon off; worker_processes auto; pid {w}/nginx.pid; error_log {w}/error.log crit;
events {{ worker_connections 4096; }}
http {{
  access_log off; sendfile on; tcp_nodelay on; keepalive_requests 1000000;
  open_file_cache max=200000 inactive=60s; open_file_cache_valid 60s;
  if_modified_since before;
  client_body_temp_path {w}/b; proxy_temp_path {w}/p; fastcgi_temp_path {w}/f; uwsgi_temp_path {w}/u; scgi_temp_path {w}/s;
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    root {root};
    types {{ }} default_type application/x-pem-file;
    location / {{ try_files $uri =404; }}
  }}
}}"""
    path = os.path.join(w, "nginx.conf")
    open(path, "w").write(conf)
    return path


with open(os.path.join(work, "bench.lua"), "w") as f:
    f.write(LUA)

rows = []
for n in SIZES:
    keys = os.path.join(work, f"keys-{n}")
    www = os.path.join(work, f"www-{n}")
    if not os.path.isdir(keys):
        subprocess.run([sys.executable, os.path.join(here, "make_keydir.py"), keys, str(n)], check=True)
    if NGINX:
        subprocess.run([binary, "export", www, "--keys", keys, "--layout", "jitsi"], check=True, capture_output=True)
        names = sorted(p for p in os.listdir(www) if p.endswith(".pem"))[:1000]
    else:
        kids = sorted(f"bench/{d}/{f[:-4]}" for d in sorted(os.listdir(os.path.join(keys, "bench")))[:2]
                      for f in os.listdir(os.path.join(keys, "bench", d)) if f.endswith(".pem"))[:1000]
        names = [hashlib.sha256(k.encode()).hexdigest() + ".pem" for k in kids]
    hits = os.path.join(work, f"hits-{n}.txt")
    misses = os.path.join(work, f"misses-{n}.txt")
    open(hits, "w").write("".join(f"/{p}\n" for p in names))
    open(misses, "w").write("".join(f"/{i:064x}.pem\n" for i in range(len(names))))
    ours_port, nginx_port = free_port(), free_port()
    ours = subprocess.Popen([binary, "serve", "--no-init", "--keys", keys, "--listen", f"127.0.0.1:{ours_port}", "--max-connections", "20000"],
                            env=dict(os.environ, RUST_LOG="warn"), stderr=subprocess.DEVNULL)
    nginx = subprocess.Popen(["nginx", "-c", nginx_conf(www, nginx_port), "-p", os.path.join(work, "nginx")],
                             stderr=subprocess.DEVNULL) if NGINX else None
    wait_up(ours_port)
    if nginx:
        wait_up(nginx_port)
    wait_settled(ours_port)
    for scenario in SCENARIOS:
        paths = misses if scenario == "404" else hits
        res = {"ours": [], "nginx": []}
        for _ in range(ROUNDS):
            for name, port in (("ours", ours_port), ("nginx", nginx_port)):
                if name == "ours" or nginx:
                    res[name].append(wrk(port, scenario, paths))
        if not nginx:
            res["nginx"] = [(float("nan"), float("nan"), 0, "")]
        med = lambda name, i: statistics.median(r[i] for r in res[name])
        o, g = med("ours", 0), med("nginx", 0)
        rows.append((scenario, n, o, g, o / g, med("ours", 1), med("nginx", 1),
                     sum(r[2] for r in res["ours"]), ";".join(r[3] for r in res["ours"] if r[3])))
        print(f"{scenario:17} {n:>6} keys  ours {o:>9.0f}/s  nginx {g:>9.0f}/s  ratio {o / g:.2f}  p99 {med('ours', 1):.2f} / {med('nginx', 1):.2f} ms", flush=True)
    ours.terminate()
    ours.wait()
    if nginx:
        nginx.terminate()
        nginx.wait()

print()
print("| scenario | keys | asap-keyserver req/s | nginx req/s | ratio | p99 ours | p99 nginx |")
print("|---|---|---|---|---|---|---|")
for scenario, n, o, g, r, po, pg, non2xx, errs in rows:
    print(f"| {scenario} | {n:,} | {o:,.0f} | {g:,.0f} | {r:.2f}x | {po:.2f} ms | {pg:.2f} ms |")
