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
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [redirectUri, postLogout, secret] = process.argv.slice(2);
if (!redirectUri || !postLogout) {
  console.error('usage: node idp.mjs <redirect_uri> <post_logout_redirect_uri> [client_secret]');
  process.exit(2);
}

const accounts = {
  ada: { name: 'Ada Lovelace', email: 'ada@example.com', picture: 'https://example.com/ada.png', groups: ['staff', 'jitsi-moderators'] },
  bob: { name: 'Bob', email: 'bob@example.com', groups: ['staff'] },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-key-1', use: 'sig', alg: 'RS256' };

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const client = {
    client_id: 'jitsi',
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [postLogout],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...(secret
      ? { client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' }
      : { token_endpoint_auth_method: 'none' }),
  };
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [client],
    jwks: { keys: [jwk] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'picture'],
      email: ['email'],
      groups: ['groups'],
    },
    cookies: { keys: ['asap-keyserver-test-idp-cookie-key'] },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, ...(accounts[id] ?? { name: id }) }),
    }),
  });
  provider.on('server_error', (_ctx, err) => console.error('idp server_error', err));
  server.on('request', provider.callback());
  console.log(`PORT ${port}`);
});
