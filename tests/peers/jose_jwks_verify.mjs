// Verify a token with node jose's createRemoteJWKSet (NODE_EXTRA_CA_CERTS selects a test CA).
// usage: node jose_jwks_verify.mjs JWKS_URL TOKEN_FILE AUDIENCE ISSUER
import { readFileSync } from "node:fs";
import { createRemoteJWKSet, jwtVerify } from "jose";

const [url, tokenFile, audience, issuer] = process.argv.slice(2);
const token = readFileSync(tokenFile, "utf8").trim();
const jwks = createRemoteJWKSet(new URL(url));
try {
  const { payload } = await jwtVerify(token, jwks, { algorithms: ["RS256"], audience, issuer, clockTolerance: 0 });
  console.log(JSON.stringify({ claims: payload }));
} catch (e) {
  console.log(`REJECTED: ${e.code}: ${e.message}`);
  process.exit(1);
}
