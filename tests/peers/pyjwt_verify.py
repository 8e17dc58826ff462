"""Verify a token with PyJWT the way a careful consumer would: RS256 only,
zero leeway, audience and issuer checked, exp/nbf/iss/aud/sub required.
usage: pyjwt_verify.py TOKEN_FILE SPKI_PEM_FILE AUDIENCE ISSUER
Prints {"header": ..., "claims": ...} as JSON; exits 1 with the reason."""
import json
import sys

import jwt

token = open(sys.argv[1]).read().strip()
key = open(sys.argv[2]).read()
try:
    claims = jwt.decode(
        token,
        key=key,
        algorithms=["RS256"],
        audience=sys.argv[3],
        issuer=sys.argv[4],
        leeway=0,
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub"]},
    )
except jwt.PyJWTError as e:
    print(f"REJECTED: {type(e).__name__}: {e}")
    sys.exit(1)
print(json.dumps({"header": jwt.get_unverified_header(token), "claims": claims}))
