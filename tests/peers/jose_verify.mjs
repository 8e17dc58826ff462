// Verify a token with node `jose`: importSPKI of the served key, jwtVerify
// with RS256 only, typ JWT, audience, issuer, zero clock tolerance.
// usage: node jose_verify.mjs TOKEN_FILE SPKI_PEM_FILE AUDIENCE ISSUER
import { readFileSync } from "node:fs";
import { importSPKI, jwtVerify } from "jose";

const [tokenFile, keyFile, audience, issuer] = process.argv.slice(2);
const token = readFileSync(tokenFile, "utf8").trim();
const key = await importSPKI(readFileSync(keyFile, "utf8"), "RS256");
try {
  const { payload, protectedHeader } = await jwtVerify(token, key, {
    algorithms: ["RS256"],
    typ: "JWT",
    audience,
    issuer,
    clockTolerance: 0,
    requiredClaims: ["exp", "nbf", "iat", "sub"],
  });
  console.log(JSON.stringify({ header: protectedHeader, claims: payload }));
} catch (e) {
  console.log(`REJECTED: ${e.code}: ${e.message}`);
  process.exit(1);
}
