"""What the OIDC login bridge adds to a callback on top of the IdP's calls.

Starts tests/peers/hostile_idp.mjs in `userinfo` mode (discovery, JWKS, a
token endpoint answering a valid RS256 id_token, and userinfo: the same
calls a real IdP gets) and `serve --config` with `[oidc]` (release build),
then runs LOGINS logins one after the other: GET /oidc/auth (the sealed
cookie, state, nonce) then GET /oidc/callback?code=good~<nonce>. The server
logs, per answer, `idp_ms` (time in IdP requests, measured around each
HTTP exchange) and `bridge_ms` (the whole answer minus idp_ms: the cookie,
the state check, id_token validation against the cached JWKS, claims,
RS256 signing, the reply). This script reads those lines and prints the
percentiles of bridge_ms for the callbacks (the first 50 logins are a
warm-up and are left out).

Usage: python3 bench_oidc_callback.py BINARY [LOGINS]
"""

import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import free_port  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WARMUP = 50


def start_idp():
    p = subprocess.Popen(
        ["node", "hostile_idp.mjs", "jitsi", "userinfo"],
        cwd=os.path.join(ROOT, "tests/peers"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        raise SystemExit("hostile_idp.mjs did not start (npm ci --prefix tests/peers)")
    return p, int(line.split()[1])


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main():
    binary = sys.argv[1]
    logins = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    idp, idp_port = start_idp()
    work = tempfile.mkdtemp(prefix="bench-oidc-")
    keys = os.path.join(work, "keys")
    os.makedirs(os.path.join(keys, "jitsi"))
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", os.path.join(keys, "jitsi", "2026-01-01.pem")],
        check=True, capture_output=True,
    )
    with open(os.path.join(work, "client.secret"), "w") as f:
        f.write("bench-client-secret-0123456789abcdef\n")
    port = free_port()
    with open(os.path.join(work, "service.toml"), "w") as f:
        f.write(
            f'min_key_age = "0s"\n\n[oidc]\nissuer = "http://127.0.0.1:{idp_port}"\nclient_id = "jitsi"\n'
            f'client_secret_file = "client.secret"\npublic_url = "http://127.0.0.1:{port}"\n'
            f'jitsi_url = "https://meet.example.com"\ntoken_issuer = "jitsi"\naudience = "jitsi"\n'
            f'moderator = {{ claim = "groups", value = "jitsi-moderators" }}\ncookie_key_file = "cookie.key"\n'
        )
    log_path = os.path.join(work, "serve.log")
    log = open(log_path, "w")
    server = subprocess.Popen(
        [binary, "serve", "--keys", keys, "--listen", f"127.0.0.1:{port}", "--no-init",
         "--config", os.path.join(work, "service.toml")],
        stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "RUST_LOG": "info", "NO_COLOR": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in open(log_path).read():
            if time.monotonic() > deadline:
                raise SystemExit("serve did not start:\n" + open(log_path).read())
            time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        state = urllib.parse.quote('{"room":"standup","roomSafe":"standup"}')
        for _ in range(logins):
            conn.request("GET", f"/oidc/auth?room=standup&state={state}")
            r = conn.getresponse()
            r.read()
            assert r.status == 302, r.status
            cookie = r.getheader("set-cookie").split(";")[0]
            q = urllib.parse.parse_qs(urllib.parse.urlparse(r.getheader("location")).query)
            path = f"/oidc/callback?code=good~{q['nonce'][0]}&state={urllib.parse.quote(q['state'][0])}"
            conn.request("GET", path, headers={"Cookie": cookie})
            r = conn.getresponse()
            r.read()
            assert r.status == 302 and "jwt=" in r.getheader("location"), r.status
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait()
        idp.terminate()
        log.close()
    pattern = re.compile(r'route="?callback"?.*outcome="minted".*idp_ms=([0-9.]+) bridge_ms=([0-9.]+)')
    rows = [(float(m.group(1)), float(m.group(2))) for m in map(pattern.search, open(log_path)) if m]
    if len(rows) < logins:
        raise SystemExit(f"only {len(rows)} callback lines in {log_path}")
    rows = rows[WARMUP:]
    bridge = [b for _, b in rows]
    idp_ms = [i for i, _ in rows]
    print(f"callbacks measured: {len(rows)} (after {WARMUP} warm-up), JWKS cached, RS256 RSA-2048")
    print("bridge_ms (callback minus IdP token + userinfo time): "
          f"p50 {percentile(bridge, 50):.3f}  p90 {percentile(bridge, 90):.3f}  "
          f"p99 {percentile(bridge, 99):.3f}  max {max(bridge):.3f}")
    print(f"idp_ms (token + userinfo, for reference): p50 {percentile(idp_ms, 50):.3f}  p99 {percentile(idp_ms, 99):.3f}")


if __name__ == "__main__":
    main()
