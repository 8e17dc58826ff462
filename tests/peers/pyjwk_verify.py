"""Verify a token with PyJWT's PyJWKClient, which reads the key from a JWKS URL.
usage: pyjwk_verify.py JWKS_URL TOKEN_FILE AUDIENCE ISSUER  (SSL_CERT_FILE selects a test CA)"""
import json
import sys

import jwt

url, token_file, audience, issuer = sys.argv[1:5]
token = open(token_file).read().strip()
try:
    key = jwt.PyJWKClient(url, cache_keys=False).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key=key, algorithms=["RS256"], audience=audience, issuer=issuer, leeway=0)
except jwt.PyJWTError as e:
    print(f"REJECTED: {type(e).__name__}: {e}")
    sys.exit(1)
print(json.dumps({"claims": claims}))
