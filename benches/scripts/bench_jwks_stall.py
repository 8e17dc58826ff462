"""Prosody's stall per cache_keys_url refresh: the whole JWKS vs ?newest=2, side by side.

usage: bench_jwks_stall.py BINARY [SIZES=1000,10000] [REFRESHES=5]

For each size: N keys of one issuer (`bulk/2026-11-01T<hhmmss>Z`, so that their age can be told)
plus `jitsi/2026-11-01` and `jitsi/2026-12-01`, served by BINARY with --jwks-max-age 5; then Debian's
real Prosody 0.12 with the test suite's token module (tests/fixtures/prosody/login/mod_auth_token.lua,
g3 mode), `cache_keys_url` at the whole JWKS, then at `?newest=2`. The module turns every JWKS key into
a PEM in Lua at each refresh, as the token plugin does, and logs how long that took: Prosody serves no
one meanwhile. Prints the median of REFRESHES refreshes per case, and what the same number of keys
costs the token plugin of 2026-07 at the 2.5 ms a key measured with it (issue 21)."""
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port, wait_settled

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

binary = os.path.abspath(sys.argv[1])
sizes = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "1000,10000").split(",")]
refreshes = int(sys.argv[3]) if len(sys.argv) > 3 else 5
repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
modules = os.path.join(repo, "tests", "fixtures", "prosody", "login")
pems = [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) for _ in range(16)]


def make_keys(root, n):
    os.makedirs(os.path.join(root, "bulk"))
    os.makedirs(os.path.join(root, "jitsi"))
    for i in range(n):
        name = "2026-11-01T%02d%02d%02dZ" % (i // 3600, (i // 60) % 60, i % 60)
        with open(os.path.join(root, "bulk", name + ".pem"), "wb") as f:
            f.write(pems[i % len(pems)])
    for i, name in enumerate(["2026-11-01", "2026-12-01"]):
        with open(os.path.join(root, "jitsi", name + ".pem"), "wb") as f:
            f.write(pems[i])


def stalls(work, key_server, cache_keys_url):
    """Starts Prosody reading cache_keys_url; returns (keys, bytes, [ms per refresh])."""
    d = tempfile.mkdtemp(dir=work)
    os.makedirs(os.path.join(d, "data"))
    log = os.path.join(d, "prosody.log")
    config = f"""run_as_root = true
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
plugin_paths = {{ "{modules}" }}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{log}" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
http_ports = {{ {free_port()} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
modules_enabled = {{ "bosh", "saslauth" }}
modules_disabled = {{ "s2s" }}
VirtualHost "meet.test"
    authentication = "token"
    test_token_mode = "g3"
    app_id = "jitsi"
    asap_key_server = "{key_server}"
    cache_keys_url = "{cache_keys_url}"
"""
    with open(os.path.join(d, "prosody.cfg.lua"), "w") as f:
        f.write(config)
    p = subprocess.Popen(["prosody", "--config", os.path.join(d, "prosody.cfg.lua")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = re.compile(r"cached public keys refreshed: (\d+) keys, (\d+) bytes, ([\d.]+) ms")
    found = []
    deadline = time.time() + 60 + refreshes * 10
    try:
        while len(found) < refreshes and time.time() < deadline:
            time.sleep(0.5)
            try:
                with open(log) as f:
                    found = pattern.findall(f.read())
            except FileNotFoundError:
                pass
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    if not found:
        sys.exit(f"Prosody never refreshed {cache_keys_url}; see {log}")
    keys, size = int(found[-1][0]), int(found[-1][1])
    return keys, size, [float(ms) for _, _, ms in found]


rows = []
with tempfile.TemporaryDirectory() as work:
    for n in sizes:
        root = os.path.join(work, f"keys-{n}")
        make_keys(root, n)
        port = free_port()
        server = subprocess.Popen([binary, "serve", "--keys", root, "--listen", f"127.0.0.1:{port}",
                                   "--no-init", "--jwks-max-age", "5"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_settled(port)
            base = f"http://127.0.0.1:{port}"
            for label, url in [("whole JWKS", f"{base}/.well-known/jwks.json"),
                               ("?newest=2", f"{base}/.well-known/jwks.json?newest=2")]:
                keys, size, ms = stalls(work, base, url)
                rows.append((n + 2, label, keys, size, statistics.median(ms), max(ms), keys * 2.5))
                print(f"{n + 2} keys, {label}: {keys} in the JWKS, {size} bytes, refresh stall "
                      f"median {statistics.median(ms):.1f} ms over {len(ms)}", flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)

print()
print("| keys | cache_keys_url | keys in it | size | stall per refresh, median (max) | at the plugin's 2.5 ms a key |")
print("|---|---|---|---|---|---|")
for n, label, keys, size, med, mx, plugin in rows:
    print(f"| {n:,} | {label} | {keys:,} | {size / 1000:,.1f} kB | {med:.1f} ms ({mx:.1f}) | {plugin / 1000:.2f} s |")
