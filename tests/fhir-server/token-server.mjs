// A SMART Backend Services token endpoint for the C++ integration tests (loopback only).
// It verifies the client's private_key_jwt assertion on its own (npm `jose`, not the client's
// code): alg RS384/ES384 matching the registered key, kid, iss = sub = client_id, aud = this
// token URL, exp at most 5 minutes ahead, jti never seen before. It issues opaque tokens that
// expire after `expires_in` seconds and answers RFC 7662 introspection for a front that
// enforces them (tests/client/fault_proxy.cc).
//
//   PORT=0 PORT_FILE=/tmp/tok.port CLIENTS_FILE=/tmp/clients.json node token-server.mjs
//
// CLIENTS_FILE (re-read on every token request, so a test may write it after start):
//   {"clients": {"<client_id>": {"keys": [{"kid": "k1", "alg": "ES384", "pem": "-----BEGIN PUBLIC KEY-----..."},
//                                         {"kid": "k2", "alg": "RS384", "jwk": {...}}]}}}
//
// Endpoints:
//   POST /token                              client_credentials + client_assertion → token
//   POST /introspect                         token=… → {"active": bool, "exp", "client_id", "scope"}
//   GET  /.well-known/smart-configuration    token_endpoint and the supported algorithms
//   POST /_admin/config                      {"expires_in": N} (seconds, ≥ 1)
//   POST /_admin/reset                       forget tokens, jtis and stats; expires_in back to default
//   GET  /_admin/stats                       {"issued", "rejected": [{"error", "description"}],
//                                            "verified": [{"client_id", "alg", "kid"}], "introspections"}
//
// env: HOST (loopback only), PORT (0 = free port), PORT_FILE, CLIENTS_FILE, EXPIRES_IN (300).
// Exit codes: 0 after SIGTERM/SIGINT, 1 cannot listen, 2 bad configuration.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as jose from 'jose';

const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number(process.env.PORT ?? '0');
const PORT_FILE = process.env.PORT_FILE ?? '';
const CLIENTS_FILE = process.env.CLIENTS_FILE ?? '';
const DEFAULT_EXPIRES_IN = Number(process.env.EXPIRES_IN ?? '300');
const ALGS = ['RS384', 'ES384'];
const MAX_ASSERTION_LIFETIME_S = 300; // SMART Backend Services: exp no more than 5 minutes ahead
const CLOCK_SKEW_S = 5;

if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(HOST)) {
  console.error(`token-server: HOST must be loopback, got ${HOST}`);
  process.exit(2);
}
if (!Number.isInteger(DEFAULT_EXPIRES_IN) || DEFAULT_EXPIRES_IN < 1) {
  console.error(`token-server: EXPIRES_IN must be a positive integer, got ${process.env.EXPIRES_IN}`);
  process.exit(2);
}

const state = {
  expiresIn: DEFAULT_EXPIRES_IN,
  tokens: new Map(), // token → {exp (ms), clientId, scope}
  jtis: new Map(), // jti → exp (s); kept until the assertion itself expires
  stats: { issued: 0, rejected: [], verified: [], introspections: 0 },
};
let tokenUrl = '';

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 1 << 20) reject(new Error('body over 1 MB'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// The registered keys of `clientId` as [{kid, alg, key}] (public CryptoKeys).
async function clientKeys(clientId) {
  if (!CLIENTS_FILE) return null;
  let registry;
  try {
    registry = JSON.parse(readFileSync(CLIENTS_FILE, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read CLIENTS_FILE ${CLIENTS_FILE}: ${e.message}`);
  }
  const client = registry?.clients?.[clientId];
  if (!client) return null;
  const out = [];
  for (const k of client.keys ?? []) {
    if (!ALGS.includes(k.alg)) continue;
    const key = k.pem ? await jose.importSPKI(k.pem, k.alg) : await jose.importJWK({ ...k.jwk, alg: k.alg }, k.alg);
    out.push({ kid: k.kid, alg: k.alg, key });
  }
  return out;
}

class OAuthError extends Error {
  constructor(error, description) {
    super(description);
    this.error = error;
  }
}

// Verifies the client assertion; returns {clientId, alg, kid}. Throws OAuthError.
async function verifyAssertion(form) {
  if (form.get('grant_type') !== 'client_credentials') {
    throw new OAuthError('unsupported_grant_type', `grant_type must be client_credentials, got ${form.get('grant_type')}`);
  }
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    throw new OAuthError('invalid_request', 'client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  }
  const assertion = form.get('client_assertion') ?? '';
  let header;
  let unverified;
  try {
    header = jose.decodeProtectedHeader(assertion);
    unverified = jose.decodeJwt(assertion);
  } catch (e) {
    throw new OAuthError('invalid_client', `client_assertion is not a JWT: ${e.message}`);
  }
  if (!ALGS.includes(header.alg)) throw new OAuthError('invalid_client', `alg ${header.alg} not accepted (RS384, ES384)`);
  if (!header.kid) throw new OAuthError('invalid_client', 'JWT header has no kid');
  const clientId = unverified.iss;
  const keys = await clientKeys(clientId);
  if (!keys) throw new OAuthError('invalid_client', `unknown client_id (iss) ${clientId}`);
  const key = keys.find((k) => k.kid === header.kid);
  if (!key) throw new OAuthError('invalid_client', `no registered key with kid ${header.kid} for ${clientId}`);
  if (key.alg !== header.alg) throw new OAuthError('invalid_client', `kid ${header.kid} is registered for ${key.alg}, JWT says ${header.alg}`);
  let payload;
  try {
    ({ payload } = await jose.jwtVerify(assertion, key.key, {
      algorithms: [key.alg],
      issuer: clientId,
      subject: clientId,
      audience: tokenUrl,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_SKEW_S,
    }));
  } catch (e) {
    throw new OAuthError('invalid_client', `client_assertion rejected: ${e.code ?? ''} ${e.message}`);
  }
  const now = Math.floor(Date.now() / 1000);
  if (payload.exp > now + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) {
    throw new OAuthError('invalid_client', `exp is ${payload.exp - now} s ahead; at most ${MAX_ASSERTION_LIFETIME_S} s allowed`);
  }
  for (const [jti, exp] of state.jtis) if (exp + CLOCK_SKEW_S < now) state.jtis.delete(jti);
  if (state.jtis.has(payload.jti)) throw new OAuthError('invalid_client', `jti ${payload.jti} was already used (replay)`);
  state.jtis.set(payload.jti, payload.exp);
  return { clientId, alg: key.alg, kid: key.kid };
}

async function handleToken(req, res) {
  const form = new URLSearchParams(await readBody(req));
  let who;
  try {
    who = await verifyAssertion(form);
  } catch (e) {
    if (!(e instanceof OAuthError)) throw e;
    state.stats.rejected.push({ error: e.error, description: e.message });
    send(res, 400, { error: e.error, error_description: e.message });
    return;
  }
  const token = randomBytes(24).toString('base64url');
  const scope = form.get('scope') ?? '';
  state.tokens.set(token, { exp: Date.now() + state.expiresIn * 1000, clientId: who.clientId, scope });
  state.stats.issued += 1;
  state.stats.verified.push({ client_id: who.clientId, alg: who.alg, kid: who.kid });
  send(res, 200, { access_token: token, token_type: 'Bearer', expires_in: state.expiresIn, scope });
}

async function handleIntrospect(req, res) {
  const form = new URLSearchParams(await readBody(req));
  state.stats.introspections += 1;
  const t = state.tokens.get(form.get('token') ?? '');
  if (!t || t.exp <= Date.now()) {
    send(res, 200, { active: false });
    return;
  }
  send(res, 200, { active: true, exp: Math.floor(t.exp / 1000), client_id: t.clientId, scope: t.scope, token_type: 'Bearer' });
}

function smartConfiguration() {
  return {
    token_endpoint: tokenUrl,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ALGS,
    introspection_endpoint: tokenUrl.replace(/\/token$/, '/introspect'),
    scopes_supported: ['system/*.rs', 'system/*.cruds'],
    capabilities: ['client-confidential-asymmetric'],
  };
}

async function route(req, res) {
  const path = new URL(req.url, 'http://x').pathname;
  if (req.method === 'POST' && path === '/token') return handleToken(req, res);
  if (req.method === 'POST' && path === '/introspect') return handleIntrospect(req, res);
  if (req.method === 'GET' && path.endsWith('/.well-known/smart-configuration')) return send(res, 200, smartConfiguration());
  if (req.method === 'GET' && path === '/_admin/stats') return send(res, 200, state.stats);
  if (req.method === 'POST' && path === '/_admin/reset') {
    state.tokens.clear();
    state.jtis.clear();
    state.stats = { issued: 0, rejected: [], verified: [], introspections: 0 };
    state.expiresIn = DEFAULT_EXPIRES_IN;
    return send(res, 200, { ok: true });
  }
  if (req.method === 'POST' && path === '/_admin/config') {
    const body = JSON.parse((await readBody(req)) || '{}');
    if (body.expires_in !== undefined) {
      if (!Number.isInteger(body.expires_in) || body.expires_in < 1) return send(res, 400, { error: 'expires_in must be a positive integer' });
      state.expiresIn = body.expires_in;
    }
    return send(res, 200, { expires_in: state.expiresIn });
  }
  return send(res, 404, { error: 'not_found', error_description: `${req.method} ${path}` });
}

const server = createServer((req, res) => {
  route(req, res).catch((e) => {
    if (!res.headersSent) send(res, 500, { error: 'server_error', error_description: e.message });
    else res.destroy();
  });
});
server.keepAliveTimeout = 5000;
server.on('error', (e) => {
  console.error(`token-server: cannot listen on ${HOST}:${PORT}: ${e.message}`);
  process.exit(1);
});
server.listen(PORT, HOST, () => {
  const port = server.address().port;
  const host = HOST.includes(':') ? `[${HOST}]` : HOST;
  tokenUrl = `http://${host}:${port}/token`;
  if (PORT_FILE) {
    writeFileSync(`${PORT_FILE}.tmp`, String(port));
    renameSync(`${PORT_FILE}.tmp`, PORT_FILE);
  }
  console.log(`token-server listening on ${tokenUrl} (expires_in ${state.expiresIn} s)`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
