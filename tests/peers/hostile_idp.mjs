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
// Without `userinfo` it has no userinfo endpoint, so the id_token is all the
// bridge reads; with it (the callback benchmark) /me answers Mallory's claims.
// Usage: node hostile_idp.mjs [client_id] [userinfo]
import http from 'node:http';
import { generateKeyPairSync, createHmac, createSign } from 'node:crypto';

const clientId = process.argv[2] ?? 'jitsi';
const withUserinfo = process.argv[3] === 'userinfo';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'hostile-1', use: 'sig', alg: 'RS256' };
const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk2 = { ...second.publicKey.export({ format: 'jwk' }), kid: 'hostile-2', use: 'sig', alg: 'RS256' };
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
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
  };
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
  if (url.pathname === '/.well-known/openid-configuration') {
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
    return json(200, { keys: jwksFetches === 1 ? [jwk] : [jwk, jwk2] });
  }
  if (withUserinfo && url.pathname === '/me') {
    return json(200, { sub: 'mallory', name: 'Mallory', email: 'mallory@example.com', groups: ['jitsi-moderators'] });
  }
  if (url.pathname === '/token' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const code = new URLSearchParams(body).get('code') ?? '';
      const [mode, nonce] = code.split('~');
      json(200, { access_token: 'hostile-access', token_type: 'Bearer', expires_in: 300, id_token: idToken(issuer, mode, nonce) });
    });
    return undefined;
  }
  return json(404, { error: 'not_found' });
});
server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
