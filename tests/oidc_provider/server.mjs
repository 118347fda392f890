// A real OpenID provider for the OIDC tests (node_modules/oidc-provider, pinned in package-lock.json).
//
//   node server.mjs CONFIG.json
//
// CONFIG: {"port", "issuer", "jwks": {"keys": [private RSA JWKs; the first one signs]},
//          "client_id", "client_secret", "ttl" (seconds), "user": {claims of the test user, "sub" included}}
//
// No browser: tokens come from the client_credentials grant with a resource indicator
// (POST /token grant_type=client_credentials&resource=urn:<audience>, HTTP Basic client auth), which
// issues an RS256 JWT access token with iss = issuer, aud = <audience>, and the test user's claims.
// Plain HTTP on 127.0.0.1. Prints "listening" on stdout once it accepts connections.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { sub, ...userClaims } = config.user;

const provider = new Provider(config.issuer, {
  jwks: config.jwks,
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (!resource.startsWith('urn:')) throw new Error(`unknown resource ${resource}`);
        return {
          scope: 'openid',
          audience: resource.slice('urn:'.length),
          accessTokenTTL: config.ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: () => userClaims,
  formats: {
    customizers: {
      jwt: (_ctx, _token, jwt) => { jwt.payload.sub = sub; },
    },
  },
});

provider.on('server_error', (_ctx, err) => { console.error('server_error', err); });
provider.listen(config.port, '127.0.0.1', () => { console.log('listening'); });
