// The baseline of the mint API benchmark: a token service built the way
// token services are built (node `http` + npm `jsonwebtoken` RS256, given
// the PEM), with the same bearer check, JSON body and claims as
// asap-keyserver's POST /mint. Not a test; run by benches/scripts/bench_mint.py.
//
// usage: node server.js PORT KEY.pem KID SECRET
"use strict";
const http = require("http");
const crypto = require("crypto");
const fs = require("fs");
const jwt = require("jsonwebtoken");

const [port, keyFile, kid, secret] = process.argv.slice(2);
const key = fs.readFileSync(keyFile, "utf8");
const issuer = kid.split("/")[0];
const want = crypto.createHash("sha256").update(secret).digest();

function reply(res, status, body) {
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

http
  .createServer((req, res) => {
    if (req.method !== "POST" || req.url !== "/mint") return reply(res, 404, { error: "not found" });
    const auth = req.headers.authorization || "";
    const given = crypto.createHash("sha256").update(auth.replace(/^Bearer /i, "")).digest();
    if (!auth.match(/^Bearer /i) || !crypto.timingSafeEqual(given, want)) return reply(res, 401, { error: "unauthorized" });
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size <= 65536) chunks.push(c);
    });
    req.on("end", () => {
      if (size > 65536) return reply(res, 400, { error: "body over 64 KiB" });
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch (e) {
        return reply(res, 400, { error: "not JSON" });
      }
      const now = Math.floor(Date.now() / 1000);
      const ttl = typeof body.ttl === "number" ? body.ttl : 3600;
      const user = body.user || {};
      if (body.moderator !== undefined) user.moderator = String(body.moderator);
      const claims = {
        iss: issuer,
        aud: "jitsi",
        sub: body.sub || "*",
        room: body.room || "*",
        iat: now,
        nbf: now - 30,
        exp: now + ttl,
        jti: crypto.randomBytes(16).toString("hex"),
        context: { user },
      };
      const token = jwt.sign(claims, key, { algorithm: "RS256", keyid: kid, noTimestamp: true });
      reply(res, 200, { token, kid, exp: claims.exp });
    });
  })
  .listen(Number(port), "127.0.0.1");
