"""Verify an ASAP token with Atlassian's library, fetching <base>/<kid> over https.
usage: asap_verify.py BASE_URL TOKEN_FILE AUDIENCE CA_FILE  -> prints {"claims": ...}; exit 1 if rejected"""
import json
import sys

from atlassian_jwt_auth import HTTPSPublicKeyRetriever, JWTAuthVerifier

base, token_file, audience, ca = sys.argv[1:5]
verifier = JWTAuthVerifier(HTTPSPublicKeyRetriever(base))
try:
    claims = verifier.verify_jwt(open(token_file).read().strip(), audience, verify=ca)
except Exception as e:  # the library raises several kinds; any is a rejection
    print(f"REJECTED: {type(e).__name__}: {e}")
    sys.exit(1)
print(json.dumps({"claims": claims}))
