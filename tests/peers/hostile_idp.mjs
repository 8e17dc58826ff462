// A hostile OpenID Connect provider for the login bridge's attack tests: a
// real HTTP server on 127.0.0.1 (port 0, prints `PORT <n>`) serving
// discovery, a JWKS and a token endpoint whose id_token is crafted from the
// code it is given, `<mode>~<nonce>`, mode one of
//   good          a valid id_token (the control: the bridge must accept it)
//   wrong_aud     aud is another client
//   wrong_iss     iss is another issuer
//   wrong_nonce   nonce is not the login's
//   expired       exp an hour ago
//   alg_none      alg "none", no signature
//   hs256_pubkey  HS256 with the IdP's public key PEM as the HMAC secret
//   two_aud       aud [client_id, another] and no azp
//   two_aud_azp   aud [client_id, another] with azp = client_id (valid)
//   future_iat    iat an hour ahead
//   new_kid       valid, signed with a second key the JWKS lists only from
//                 its second fetch on (a rotation: the bridge must refetch)
//   unknown_kid   signed with a key the JWKS never lists
//   rotated       valid, signed with a third key under the SAME kid hostile-1
//                 (a rotation that keeps the kid; served with jwks=rotated)
//   rotated_nokid valid, signed with the third key, no kid in the header
//                 (served without a kid with jwks=rotated_nokid)
//   future_nbf    valid but nbf an hour ahead (not valid yet)
//   malformed     an id_token that is not a JWT (two parts)
//   sub_mismatch  valid, but userinfo (with `userinfo`) answers for `eve`
//   ps256         valid, PS256 with a salt as long as the hash (RFC 7518 3.5),
//                 key hostile-ps (served with jwks=ps)
//   ps256_maxsalt PS256 with node's default salt (the longest): not per RFC 7518
//   ps256_rsalg   PS256 with hostile-1, whose JWK says alg RS256
// Without `userinfo` it has no userinfo endpoint, so the id_token is all the
// bridge reads; with it (the callback benchmark) /me answers Mallory's claims.
// Options (for the bridge's IdP-client tests):
//   --discovery-down  discovery answers 503 until GET /_test/set?discovery=up
//   --max-age=N       the JWKS is served with Cache-Control: max-age=N
// GET /_test/set?jwks=<default|rotated|rotated_nokid|withdrawn|ps>&discovery=<up|down>
// changes what is served (withdrawn: hostile-2 only; ps: hostile-1 and hostile-ps); GET /_test/count
// answers how often discovery and the JWKS were fetched.
// Usage: node hostile_idp.mjs [client_id] [userinfo] [options]
import http from 'node:http';
import { generateKeyPairSync, createHmac, createSign, constants } from 'node:crypto';

const options = process.argv.slice(2).filter((a) => a.startsWith('--'));
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const clientId = positional[0] ?? 'jitsi';
const withUserinfo = positional[1] === 'userinfo';
let discoveryUp = !options.includes('--discovery-down');
const maxAge = options.find((o) => o.startsWith('--max-age='))?.split('=')[1];
let jwksServed = 'default';
let discoveryFetches = 0;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'hostile-1', use: 'sig', alg: 'RS256' };
const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk2 = { ...second.publicKey.export({ format: 'jwk' }), kid: 'hostile-2', use: 'sig', alg: 'RS256' };
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
const psKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwkPs = { ...psKey.publicKey.export({ format: 'jwk' }), kid: 'hostile-ps', use: 'sig', alg: 'PS256' };
const third = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk3 = { ...third.publicKey.export({ format: 'jwk' }), kid: 'hostile-1', use: 'sig', alg: 'RS256' };
const { kid: _dropped, ...jwk3NoKid } = jwk3;
let jwksFetches = 0;
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function idToken(issuer, mode, nonce) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: mode === 'wrong_iss' ? 'http://127.0.0.1:1/other' : issuer,
    aud: mode === 'wrong_aud' ? 'someone-else' : mode.startsWith('two_aud') ? [clientId, 'another-client'] : clientId,
    ...(mode === 'two_aud_azp' ? { azp: clientId } : {}),
    sub: 'mallory',
    name: 'Mallory',
    groups: ['jitsi-moderators'],
    nonce: mode === 'wrong_nonce' ? 'not-the-nonce' : nonce,
    iat: mode === 'expired' ? now - 7200 : mode === 'future_iat' ? now + 3600 : now,
    exp: mode === 'expired' ? now - 3600 : mode === 'future_iat' ? now + 7200 : now + 300,
    ...(mode === 'future_nbf' ? { nbf: now + 3600, exp: now + 7200 } : {}),
  };
  if (mode === 'malformed') {
    return `${b64({ alg: 'RS256', typ: 'JWT', kid: 'hostile-1' })}.${b64(claims)}`;
  }
  if (mode.startsWith('ps256')) {
    const kid = mode === 'ps256_rsalg' ? 'hostile-1' : 'hostile-ps';
    const key = mode === 'ps256_rsalg' ? privateKey : psKey.privateKey;
    const input = `${b64({ alg: 'PS256', typ: 'JWT', kid })}.${b64(claims)}`;
    const opts = { key, padding: constants.RSA_PKCS1_PSS_PADDING, ...(mode === 'ps256_maxsalt' ? {} : { saltLength: 32 }) };
    return `${input}.${createSign('RSA-SHA256').update(input).sign(opts).toString('base64url')}`;
  }
  if (mode === 'rotated' || mode === 'rotated_nokid') {
    const header = mode === 'rotated' ? { alg: 'RS256', typ: 'JWT', kid: 'hostile-1' } : { alg: 'RS256', typ: 'JWT' };
    const input = `${b64(header)}.${b64(claims)}`;
    return `${input}.${createSign('RSA-SHA256').update(input).sign(third.privateKey).toString('base64url')}`;
  }
  if (mode === 'alg_none') {
    return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
  }
  if (mode === 'hs256_pubkey') {
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'hostile-1' })}.${b64(claims)}`;
    return `${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`;
  }
  const [kid, key] = mode === 'new_kid' ? ['hostile-2', second.privateKey]
    : mode === 'unknown_kid' ? ['hostile-9', stranger.privateKey] : ['hostile-1', privateKey];
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${b64(claims)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
}

const server = http.createServer((req, res) => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const url = new URL(req.url, issuer);
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === '/_test/set') {
    jwksServed = url.searchParams.get('jwks') ?? jwksServed;
    const d = url.searchParams.get('discovery');
    if (d) discoveryUp = d === 'up';
    return json(200, { jwks: jwksServed, discovery: discoveryUp ? 'up' : 'down' });
  }
  if (url.pathname === '/_test/count') {
    return json(200, { discovery: discoveryFetches, jwks: jwksFetches });
  }
  if (url.pathname === '/.well-known/openid-configuration') {
    discoveryFetches += 1;
    if (!discoveryUp) return json(503, { error: 'temporarily_unavailable' });
    return json(200, {
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'HS256', 'none'],
      code_challenge_methods_supported: ['S256'],
      ...(withUserinfo ? { userinfo_endpoint: `${issuer}/me` } : {}),
    });
  }
  if (url.pathname === '/jwks') {
    jwksFetches += 1;
    const keys = {
      rotated: [jwk3, jwk2],
      rotated_nokid: [jwk3NoKid],
      withdrawn: [jwk2],
      ps: [jwk, jwkPs],
    }[jwksServed] ?? (jwksFetches === 1 ? [jwk] : [jwk, jwk2]);
    if (maxAge) res.setHeader('cache-control', `public, max-age=${maxAge}`);
    return json(200, { keys });
  }
  if (withUserinfo && url.pathname === '/me') {
    const mismatch = (req.headers.authorization ?? '').endsWith('~sub_mismatch');
    return json(200, { sub: mismatch ? 'eve' : 'mallory', name: 'Mallory', email: 'mallory@example.com', groups: ['jitsi-moderators'] });
  }
  if (url.pathname === '/token' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const code = new URLSearchParams(body).get('code') ?? '';
      const [mode, nonce] = code.split('~');
      json(200, { access_token: mode === 'sub_mismatch' ? 'hostile-access~sub_mismatch' : 'hostile-access', token_type: 'Bearer', expires_in: 300, id_token: idToken(issuer, mode, nonce) });
    });
    return undefined;
  }
  return json(404, { error: 'not_found' });
});
server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
