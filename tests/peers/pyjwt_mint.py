"""Mint a token with PyJWT, to check that `verify` agrees with tokens we did not make.
usage: pyjwt_mint.py PRIVATE_PEM_FILE KID ALG CLAIMS_JSON  -> prints the token"""
import json
import sys

import jwt

key = open(sys.argv[1]).read()
print(jwt.encode(json.loads(sys.argv[4]), key, algorithm=sys.argv[3], headers={"kid": sys.argv[2]}))
