// A real OpenID Connect provider for the login bridge's tests: npm
// `oidc-provider` (panva, OpenID Certified) on 127.0.0.1, port 0.
//
// Usage: node idp.mjs <redirect_uri> <post_logout_redirect_uri> [client_secret]
// Prints `PORT <n>` once listening. One client `jitsi` (PKCE S256 required;
// confidential with client_secret_basic when a secret is given, else public),
// devInteractions' login and consent forms (any password), and two accounts:
// `ada` (groups: staff, jitsi-moderators) and `bob` (groups: staff). The
// id_token carries only sub and the protocol claims (an access token is
// issued), so profile, email and groups come from userinfo.
// Options:
//   --id-token-alg=ALG  the client's id_token_signed_response_alg (e.g.
//                       PS256), with a signing key for it in the JWKS
//   --rotatable         GET /_test/rotate replaces the signing key with a
//                       new one under the SAME kid (a provider rebuilt with
//                       it: sessions and grants stay in the shared memory
//                       adapter), as an IdP rotating in place does
//   --offline           the client may also use grant_type refresh_token:
//                       scope offline_access is supported, every code grant
//                       of the client gets a refresh token (offline_access
//                       requested or not) and a refresh token is rotated on
//                       each use (presenting a used one again answers
//                       invalid_grant and revokes the whole grant, its
//                       newer refresh token included).
//                       Without offline_access the refresh token still ends
//                       with the IdP session (oidc-provider's default).
// Always: GET /_test/disable?account=ID makes findAccount return nothing for
// ID from then on, so its refresh tokens (and logins) fail with invalid_grant.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const options = process.argv.slice(2).filter((a) => a.startsWith('--'));
const [redirectUri, postLogout, secret] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const idTokenAlg = options.find((o) => o.startsWith('--id-token-alg='))?.split('=')[1];
const rotatable = options.includes('--rotatable');
const offline = options.includes('--offline');
const disabled = new Set();
if (!redirectUri || !postLogout) {
  console.error('usage: node idp.mjs <redirect_uri> <post_logout_redirect_uri> [client_secret]');
  process.exit(2);
}

const accounts = {
  ada: { name: 'Ada Lovelace', email: 'ada@example.com', picture: 'https://example.com/ada.png', groups: ['staff', 'jitsi-moderators'] },
  bob: { name: 'Bob', email: 'bob@example.com', groups: ['staff'] },
};

const signingKey = () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'idp-key-1', use: 'sig', alg: 'RS256' };
};
const jwk = signingKey();
const extraKeys = () => {
  if (!idTokenAlg || idTokenAlg === 'RS256') return [];
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return [{ ...privateKey.export({ format: 'jwk' }), kid: `idp-key-${idTokenAlg}`, use: 'sig', alg: idTokenAlg }];
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const client = {
    client_id: 'jitsi',
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [postLogout],
    grant_types: offline ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
    response_types: ['code'],
    ...(idTokenAlg ? { id_token_signed_response_alg: idTokenAlg } : {}),
    ...(secret
      ? { client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' }
      : { token_endpoint_auth_method: 'none' }),
  };
  const make = (keys) => new Provider(`http://127.0.0.1:${port}`, {
    clients: [client],
    jwks: { keys },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    scopes: ['openid', 'profile', 'email', 'groups', ...(offline ? ['offline_access'] : [])],
    ...(offline
      ? {
        issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
        rotateRefreshToken: true,
      }
      : {}),
    claims: {
      openid: ['sub'],
      profile: ['name', 'picture'],
      email: ['email'],
      groups: ['groups'],
    },
    cookies: { keys: ['asap-keyserver-test-idp-cookie-key'] },
    findAccount: async (_ctx, id) => (disabled.has(id) ? undefined : {
      accountId: id,
      claims: async () => ({ sub: id, ...(accounts[id] ?? { name: id }) }),
    }),
  });
  const started = (provider) => {
    provider.on('server_error', (_ctx, err) => console.error('idp server_error', err));
    return provider.callback();
  };
  let handler = started(make([jwk, ...extraKeys()]));
  server.on('request', (req, res) => {
    if (rotatable && req.url === '/_test/rotate') {
      handler = started(make([signingKey(), ...extraKeys()]));
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('rotated\n');
    }
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/_test/disable' && url.searchParams.get('account')) {
      disabled.add(url.searchParams.get('account'));
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('disabled\n');
    }
    return handler(req, res);
  });
  console.log(`PORT ${port}`);
});
