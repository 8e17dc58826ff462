"""Inline login's token endpoint over keep-alive HTTPS, side by side with openssl (issue 29's numbers).

usage: bench_inline.py BINARY [--rounds R] [--seconds S]   (called by scripts/bench-inline)

`serve --config` with an `[oidc]` table and TLS (a self-signed certificate), one RSA-2048
key. Every request needs a token of its own (a refresh token is good once, a code once), so
the tokens are sealed here beforehand with the config's cookie key, exactly as the server
seals them (AES-256-GCM, a 96-bit random nonce, the kind's name as associated data,
base64url), and a wrk Lua script posts each once. Per round, alternated:
1. `POST /oidc/token grant_type=refresh_token` (no IdP refresh token in them: the IdP is not
   asked), wrk -t1 -c16 (throughput) and -c1 (the time of one refresh);
2. `grant_type=authorization_code` with PKCE S256, wrk -t1 -c16 and -c1;
3. `openssl speed -seconds S -multi 2 rsa2048`.
A refresh makes two RSA signatures (Jitsi's token and the id_token): the goal is 2 x
refreshes/s >= 0.8 x what `openssl speed -multi 2` signs, and a refresh p99 under 5 ms.
The load generator shares the machine's 2 cores with the server, as everywhere here."""
import base64
import hashlib
import json
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from benchlib import bench_args, free_port

binary, rounds, seconds = bench_args(sys.argv[1:])
work = tempfile.mkdtemp()
keys = os.path.join(work, "keys")
subprocess.run([binary, "keygen", "jitsi/2026-01-01", "--keys", keys], check=True, capture_output=True)
cookie_key = os.urandom(32)
open(os.path.join(work, "cookie.key"), "w").write(cookie_key.hex() + "\n")
cert, tls_key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tls_key, "-out", cert,
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"],
               check=True, capture_output=True)
JITSI = "https://meet.example.com"
SSO = JITSI + "/static/sso.html"
config = os.path.join(work, "service.toml")
# The IdP is never asked (no IdP refresh token in the grants): a closed port is enough.
open(config, "w").write(f"""min_key_age = "0s"
[oidc]
issuer = "http://127.0.0.1:9"
client_id = "jitsi"
public_url = "https://127.0.0.1"
jitsi_url = "{JITSI}"
token_issuer = "jitsi"
cookie_key_file = "cookie.key"
""")
VERIFIER = "A" * 20 + base64.urlsafe_b64encode(os.urandom(33)).decode()
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
aead = AESGCM(cookie_key)


def seal(name, value):
    nonce = os.urandom(12)
    data = aead.encrypt(nonce, json.dumps(value, separators=(",", ":")).encode(), name.encode())
    return base64.urlsafe_b64encode(nonce + data).rstrip(b"=").decode()


def grant(i):
    return {"client": "jitsi-meet", "login": int(time.time()), "room": "standup",
            "person": {"sub": f"user-{i}", "name": "Ada Lovelace", "email": "ada@example.com", "moderator": i % 2 == 0}}


def bodies(kind, n):
    """n form bodies, each with a token of its own."""
    out = []
    for i in range(n):
        ident = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if kind == "refresh":
            token = seal("asap_sso_refresh", {"id": ident, "grant": grant(i)})
            form = f"grant_type=refresh_token&client_id=jitsi-meet&refresh_token={token}"
        else:
            code = seal("asap_sso_code", {"id": ident, "grant": grant(i), "challenge": CHALLENGE, "redirect": SSO,
                                          "nonce": "ab" * 32, "created": int(time.time())})
            form = (f"grant_type=authorization_code&client_id=jitsi-meet&code={code}"
                    f"&redirect_uri={SSO.replace(':', '%3A').replace('/', '%2F')}&code_verifier={VERIFIER}")
        out.append(form)
    return out


LUA = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
local i, bad = 0, 0
request = function()
  i = i + 1
  return wrk.format("POST", "/oidc/token", {["Content-Type"] = "application/x-www-form-urlencoded",
                    ["Origin"] = "%s"}, bodies[i])
end
response = function(status, headers, body) if status ~= 200 then bad = bad + 1 end end
done = function(summary, latency, requests)
  io.write(string.format("non200 %%d\\n", bad))
  io.write(string.format("p99us %%d\\n", latency:percentile(99)))
end
"""


def wrk(port, kind, connections):
    # More bodies than wrk can send in the run (a few thousand a second at most).
    per_second = 4000 if connections > 1 else 1500
    lines = os.path.join(work, f"{kind}.txt")
    open(lines, "w").write("\n".join(bodies(kind, per_second * (seconds + 1))) + "\n")
    script = os.path.join(work, "post.lua")
    open(script, "w").write(LUA % (lines, JITSI))
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script,
                          f"https://127.0.0.1:{port}/oidc/token"], capture_output=True, text=True).stdout
    if "non200 0" not in out or "Non-2xx" in out:
        raise SystemExit(f"failed requests ({kind}, -c{connections}):\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99_ms = int(re.search(r"p99us (\d+)", out).group(1)) / 1000
    return rps, p99_ms


def openssl_speed():
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "-multi", "2", "rsa2048"],
                         capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("rsa 2048")][-1]
    return float(re.findall(r"[\d.]+", line)[3])


def wait_tls(port, timeout=60):
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                with ctx.wrap_socket(s) as t:
                    t.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if t.recv(64).startswith(b"HTTP/1.1 200"):
                        return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not get ready")


port = free_port()
server = subprocess.Popen([binary, "serve", "--no-init", "--keys", keys, "--listen", f"127.0.0.1:{port}",
                           "--config", config, "--tls-cert", cert, "--tls-key", tls_key],
                          env=dict(os.environ, RUST_LOG="error"), stderr=subprocess.DEVNULL)
try:
    wait_tls(port)
    wrk(port, "refresh", 16)  # warm-up: the key parsed and cached
    print(f"== POST /oidc/token over keep-alive HTTPS, wrk -t1 -d{seconds}s, {rounds} rounds alternated with "
          f"openssl speed -seconds {seconds} -multi 2 rsa2048", flush=True)
    res = {k: [] for k in ("refresh16", "refresh1", "code16", "code1", "speed")}
    for r in range(rounds):
        for kind in ("refresh", "code"):
            for c in (16, 1):
                rps, p99 = wrk(port, kind, c)
                res[f"{kind}{c}"].append((rps, p99))
                print(f"round {r + 1}: {kind} -c{c}: {rps:,.0f}/s, p99 {p99:.2f} ms", flush=True)
        res["speed"].append(openssl_speed())
        print(f"round {r + 1}: openssl speed -multi 2 rsa2048: {res['speed'][-1]:,.0f} sign/s", flush=True)
    ratio = statistics.median(2 * a[0] / s for a, s in zip(res["refresh16"], res["speed"]))
    med = lambda k, i: statistics.median(x[i] for x in res[k])
    print(f"median: refresh -c16 {med('refresh16', 0):,.0f}/s (p99 {med('refresh16', 1):.2f} ms), "
          f"-c1 {med('refresh1', 0):,.0f}/s (p99 {med('refresh1', 1):.2f} ms); code -c16 {med('code16', 0):,.0f}/s "
          f"(p99 {med('code16', 1):.2f} ms), -c1 p99 {med('code1', 1):.2f} ms; openssl {statistics.median(res['speed']):,.0f} "
          f"sign/s; 2 x refreshes/s against openssl -multi 2 (median of the rounds' ratios): {ratio:.2f}x", flush=True)
finally:
    server.terminate()
    server.wait()
