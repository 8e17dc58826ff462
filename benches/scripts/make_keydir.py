"""Write N public key files for benchmarks: DIR/bench/dNNN/kNNNNNN.pem, SPKI PEM,
cycling through 64 distinct RSA-2048 keys. Prints nothing; exits 0.
usage: make_keydir.py DIR N [--private]"""
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

out, n = sys.argv[1], int(sys.argv[2])
private = "--private" in sys.argv
keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(64)]
if private:
    blobs = [k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()) for k in keys]
else:
    blobs = [k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) for k in keys]
for i in range(n):
    d = os.path.join(out, "bench", f"d{i // 1000:03d}")
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"k{i:06d}.pem")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, blobs[i % 64])
    os.close(fd)
