// Turn one entry of a JWKS into SPKI PEM with node jose (importJWK, exportSPKI).
// usage: node jose_jwk_pem.mjs JWKS_FILE KID
import { readFileSync } from "node:fs";
import { importJWK, exportSPKI } from "jose";

const [file, kid] = process.argv.slice(2);
const jwk = JSON.parse(readFileSync(file, "utf8")).keys.find((k) => k.kid === kid);
if (!jwk) {
  console.error("kid not in the JWKS");
  process.exit(1);
}
const key = await importJWK(jwk, "RS256", { extractable: true });
process.stdout.write(await exportSPKI(key) + "\n");
