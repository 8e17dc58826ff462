"""Time from spawning `serve` to `/readyz` answering 200, for two binaries
side by side (A B A B), on one key directory (benches/scripts/make_keydir.py).
usage: bench_ready.py KEYDIR BINARY_A BINARY_B [ROUNDS]   (prints each run and the medians)"""
import subprocess
import sys
import time
import urllib.request


def ready(binary, keydir, port):
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "serve", "--keys", keydir, "--no-init", "--listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = t0 + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except Exception:
                time.sleep(0.01)
        raise SystemExit(f"{binary} not ready within 120 s")
    finally:
        p.terminate()
        p.wait()


keydir, a, b = sys.argv[1:4]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
times = {a: [], b: []}
for i in range(rounds):
    for j, binary in enumerate((a, b)):
        times[binary].append(ready(binary, keydir, 19000 + 2 * i + j))
for binary, t in times.items():
    t.sort()
    median = (t[(len(t) - 1) // 2] + t[len(t) // 2]) / 2
    print(f"{binary}: {' '.join(f'{x:.2f}' for x in t)}  median {median:.2f} s")
