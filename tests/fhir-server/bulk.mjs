// FHIR Bulk Data Access (SMART Bulk Data IG STU 2) `$export` over the test server's in-memory
// repository, with fault switches for the client's tests (issue 16).
//
//   GET|POST [base]/$export, [base]/Patient/$export, [base]/Group/<id>/$export
//     needs `Prefer: respond-async`; `_type`, `_since`, `_typeFilter` (only the `code` parameter),
//     `_outputFormat` (application/fhir+ndjson, application/ndjson, ndjson). 202 + Content-Location.
//   GET [base]/$export-status/<job>   202 (Retry-After, X-Progress) `pollsBeforeDone` times, then
//                                      200 with the manifest; DELETE cancels / removes the job.
//   GET [base]/$export-file/<job>/<n> the NDJSON file (`requireToken` set: Bearer token needed).
//   A second listener (another origin) serves the same files at /bulk-files/<job>/<n> when
//   `redirectFiles` is on (the main origin answers 307 there); it records whether an
//   Authorization header reached it.
//
// Admin: POST /_admin/bulk merges a JSON config (below); GET /_admin/bulk returns counters.
// Fault counts (`kickoff429`, ...) are consumed one request at a time.
import http from 'node:http';
import zlib from 'node:zlib';

const DEFAULT_CONFIG = {
  pollsBeforeDone: 2, // 202 answers before the manifest
  retryAfter: 1, // seconds in Retry-After on 202
  retryAfterDate: false, // send Retry-After as an HTTP date instead of seconds
  resourcesPerFile: 1000,
  requireToken: '', // non-empty: kick-off, status and files need "Authorization: Bearer <it>"
  requiresAccessToken: null, // manifest value; null: true when requireToken is set
  redirectFiles: false, // file URLs on the main origin answer 307 to the second listener
  kickoff429: 0,
  kickoff503: 0,
  status429: 0,
  status503: 0,
  file429: 0,
  file503: 0,
  expireLinksOnce: false, // the first file download finds its link expired (410) once
  truncateOnce: false, // the first file download is cut off half way once
  notFoundOnce: false, // the first file download answers 404 once
  errorFile: false, // add an OperationOutcome error file to the manifest
  typeFilterSupported: true, // false: a _typeFilter answers 400
  getKickoff405: false, // true: a GET kick-off answers 405 (the server takes only POST)
  fileDelayMs: 0, // each file answer waits this long (crash-during-download tests)
  gzipFiles: false, // files sent with Content-Encoding: gzip when the client accepts it
};

export function createBulk({ repo, baseUrl, sendOutcome, host }) {
  let config = { ...DEFAULT_CONFIG };
  let jobs = new Map();
  let nextJob = 1;
  const counters = () => ({
    kickoffs: 0,
    statusPolls: 0,
    fileGets: 0,
    fileGetsWithAuth: 0,
    fileGetsWithoutAuth: 0,
    otherOriginGets: 0,
    otherOriginAuthorized: 0,
    deletes: 0,
    gzipped: 0,
    postKickoffs: 0, // kick-offs sent as POST (Parameters body), accepted
    filteredKickoffs: 0, // accepted kick-offs with a _typeFilter
  });
  let stats = counters();
  let otherPort = 0;

  const other = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://localhost');
    stats.otherOriginGets++;
    if (req.headers.authorization !== undefined) {
      stats.otherOriginAuthorized++;
    }
    const m = /^\/bulk-files\/(\d+)\/(\d+)$/.exec(u.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    serveFile(res, m[1], Number(m[2]), u.searchParams.get('g'), false, req);
  });
  other.listen(0, host, () => {
    otherPort = other.address().port;
  });

  function take(name) {
    if (config[name] > 0) {
      config[name]--;
      return true;
    }
    return false;
  }

  function throttled(res, kind) {
    if (take(`${kind}429`)) {
      res.writeHead(429, { 'Retry-After': '0', 'Content-Length': 0 }).end();
      return true;
    }
    if (take(`${kind}503`)) {
      res.writeHead(503, { 'Retry-After': '0', 'Content-Length': 0 }).end();
      return true;
    }
    return false;
  }

  function authorized(req) {
    return !config.requireToken || req.headers.authorization === `Bearer ${config.requireToken}`;
  }

  function compartmentPatient(resource) {
    if (resource.resourceType === 'Patient') {
      return resource.id;
    }
    const ref = resource.subject?.reference ?? resource.patient?.reference ?? '';
    const m = /(?:^|\/)Patient\/([^/]+)$/.exec(ref);
    return m ? m[1] : null;
  }

  // `_typeFilter=Observation?code=sys|c1,c2`: per type, a list of code matchers (OR).
  function parseTypeFilters(values) {
    const byType = new Map();
    for (const v of values) {
      for (const one of v.split(/,(?=[A-Z][A-Za-z]+\?)/)) {
        const q = one.indexOf('?');
        if (q < 0) {
          throw new Error(`_typeFilter without a query: ${one}`);
        }
        const type = one.slice(0, q);
        const params = new URLSearchParams(one.slice(q + 1));
        const codes = [];
        for (const [k, val] of params) {
          if (k !== 'code') {
            throw new Error(`_typeFilter parameter not supported: ${k}`);
          }
          for (const token of val.split(',')) {
            const bar = token.indexOf('|');
            codes.push(bar < 0 ? { code: token } : { system: token.slice(0, bar) || undefined, code: token.slice(bar + 1) });
          }
        }
        if (!byType.has(type)) {
          byType.set(type, []);
        }
        byType.get(type).push(codes);
      }
    }
    return byType;
  }

  function matchesFilters(resource, filters) {
    const list = filters.get(resource.resourceType);
    if (!list) {
      return true;
    }
    const codings = resource.code?.coding ?? [];
    return list.some((codes) =>
      codes.some((c) => codings.some((cd) => cd.code === c.code && (c.system === undefined || cd.system === c.system)))
    );
  }

  function kickoff(req, res, level, groupId, pairs) {
    stats.kickoffs++;
    if (throttled(res, 'kickoff')) {
      return;
    }
    if (!authorized(req)) {
      return sendOutcome(res, 401, 'login', 'Bearer token required');
    }
    if (req.method === 'GET' && config.getKickoff405) {
      return sendOutcome(res, 405, 'not-supported', '$export kick-off only as POST here');
    }
    if (!/respond-async/i.test(String(req.headers.prefer ?? ''))) {
      return sendOutcome(res, 400, 'invalid', '$export needs the header Prefer: respond-async');
    }
    const get = (k) => pairs.filter(([n]) => n === k).map(([, v]) => v);
    const fmt = get('_outputFormat')[0];
    if (fmt && !['application/fhir+ndjson', 'application/ndjson', 'ndjson'].includes(fmt)) {
      return sendOutcome(res, 400, 'not-supported', `_outputFormat not supported: ${fmt}`);
    }
    for (const [k] of pairs) {
      if (!['_type', '_since', '_typeFilter', '_outputFormat'].includes(k)) {
        return sendOutcome(res, 400, 'not-supported', `$export parameter not supported: ${k}`);
      }
    }
    const types = get('_type').flatMap((v) => v.split(',')).filter(Boolean);
    const sinceValue = get('_since')[0];
    const since = sinceValue ? Date.parse(sinceValue) : undefined;
    if (sinceValue && Number.isNaN(since)) {
      return sendOutcome(res, 400, 'invalid', `_since is not an instant: ${sinceValue}`);
    }
    let filters;
    try {
      const tf = get('_typeFilter');
      if (tf.length && !config.typeFilterSupported) {
        throw new Error('_typeFilter is not supported');
      }
      filters = parseTypeFilters(tf);
    } catch (err) {
      return sendOutcome(res, 400, 'not-supported', err.message);
    }
    if (req.method === 'POST') {
      stats.postKickoffs++;
    }
    if (filters.size) {
      stats.filteredKickoffs++;
    }
    let members = null;
    if (level === 'group') {
      const group = repo.resources.get('Group')?.get(groupId);
      if (!group) {
        return sendOutcome(res, 404, 'not-found', `Group/${groupId} not found`);
      }
      members = new Set(
        (group.member ?? []).map((m) => /(?:^|\/)Patient\/([^/]+)$/.exec(m.entity?.reference ?? '')?.[1]).filter(Boolean)
      );
    }
    const transactionTime = new Date().toISOString();
    const wanted = types.length ? types : [...repo.resources.keys()].sort();
    const files = [];
    const output = [];
    for (const type of wanted) {
      const all = [...(repo.resources.get(type)?.values() ?? [])];
      const lines = [];
      for (const r of all) {
        if (since !== undefined && !(Date.parse(r.meta?.lastUpdated ?? '') > since)) {
          continue;
        }
        if (level !== 'system' && type !== 'Questionnaire' && type !== 'Group') {
          const p = compartmentPatient(r);
          if (!p || (members && !members.has(p))) {
            continue;
          }
        }
        if (!matchesFilters(r, filters)) {
          continue;
        }
        lines.push(JSON.stringify(r));
      }
      for (let i = 0; i < lines.length; i += config.resourcesPerFile) {
        const chunk = lines.slice(i, i + config.resourcesPerFile);
        files.push({ text: chunk.join('\n') + '\n' });
        output.push({ type, n: files.length - 1, count: chunk.length });
      }
    }
    const deleted = [];
    if (since !== undefined) {
      const entries = [];
      for (const [key, at] of repo.deletedAt ?? []) {
        const [type] = key.split('/');
        if (wanted.includes(type) && Date.parse(at) > since) {
          entries.push({ request: { method: 'DELETE', url: key } });
        }
      }
      if (entries.length) {
        files.push({ text: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }) + '\n' });
        deleted.push({ type: 'Bundle', n: files.length - 1 });
      }
    }
    const errors = [];
    if (config.errorFile) {
      const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics: 'test error' }] };
      files.push({ text: JSON.stringify(oo) + '\n' });
      errors.push({ type: 'OperationOutcome', n: files.length - 1 });
    }
    const id = String(nextJob++);
    jobs.set(id, {
      polls: 0,
      gen: 1,
      files,
      output,
      deleted,
      errors,
      transactionTime,
      request: new URL(baseUrl()).origin + req.url,
      firstFileServed: false,
    });
    res.writeHead(202, { 'Content-Location': `${baseUrl()}/$export-status/${id}`, 'Content-Length': 0 }).end();
  }

  function fileUrl(id, job, n) {
    return `${baseUrl()}/$export-file/${id}/${n}?g=${job.gen}`;
  }

  function manifest(id, job) {
    const requires = config.requiresAccessToken ?? Boolean(config.requireToken);
    const entry = ({ type, n, count }) => ({ type, url: fileUrl(id, job, n), ...(count !== undefined ? { count } : {}) });
    return {
      transactionTime: job.transactionTime,
      request: job.request,
      requiresAccessToken: requires,
      output: job.output.map(entry),
      deleted: job.deleted.map(entry),
      error: job.errors.map(entry),
    };
  }

  function status(req, res, id) {
    const job = jobs.get(id);
    if (req.method === 'DELETE') {
      stats.deletes++;
      if (!job) {
        return sendOutcome(res, 404, 'not-found', `No export job ${id}`);
      }
      jobs.delete(id);
      return sendOutcome(res, 202, 'informational', 'Export job deleted');
    }
    stats.statusPolls++;
    if (throttled(res, 'status')) {
      return;
    }
    if (!authorized(req)) {
      return sendOutcome(res, 401, 'login', 'Bearer token required');
    }
    if (!job) {
      return sendOutcome(res, 404, 'not-found', `No export job ${id}`);
    }
    if (job.polls < config.pollsBeforeDone) {
      job.polls++;
      const retry = config.retryAfterDate
        ? new Date(Date.now() + config.retryAfter * 1000).toUTCString()
        : String(config.retryAfter);
      const pct = Math.round((100 * job.polls) / (config.pollsBeforeDone + 1));
      res.writeHead(202, { 'Retry-After': retry, 'X-Progress': `${pct}% done`, 'Content-Length': 0 }).end();
      return;
    }
    const text = JSON.stringify(manifest(id, job));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
  }

  function serveFile(res, id, n, gen, checkAuth, req) {
    const job = jobs.get(id);
    if (!job || !job.files[n]) {
      return sendOutcome(res, 404, 'not-found', `No export file ${id}/${n}`);
    }
    if (checkAuth && !authorized(req)) {
      return sendOutcome(res, 401, 'login', 'Bearer token required');
    }
    if (String(job.gen) !== String(gen)) {
      return sendOutcome(res, 410, 'expired', 'Link expired: poll the status URL for fresh links');
    }
    const first = !job.firstFileServed;
    job.firstFileServed = true;
    if (first && config.expireLinksOnce) {
      config.expireLinksOnce = false;
      job.gen++;
      return sendOutcome(res, 410, 'expired', 'Link expired: poll the status URL for fresh links');
    }
    if (first && config.notFoundOnce) {
      config.notFoundOnce = false;
      return sendOutcome(res, 404, 'not-found', 'File not found (once)');
    }
    const body = Buffer.from(job.files[n].text, 'utf8');
    if (first && config.truncateOnce) {
      config.truncateOnce = false;
      res.writeHead(200, { 'Content-Type': 'application/fhir+ndjson', 'Content-Length': body.length });
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      setTimeout(() => res.destroy(), 10);
      return;
    }
    if (config.gzipFiles && /\bgzip\b/.test(String(req?.headers['accept-encoding'] ?? ''))) {
      stats.gzipped++;
      const z = zlib.gzipSync(body);
      res
        .writeHead(200, { 'Content-Type': 'application/fhir+ndjson', 'Content-Encoding': 'gzip', 'Content-Length': z.length })
        .end(z);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/fhir+ndjson', 'Content-Length': body.length }).end(body);
  }

  function file(req, res, id, n, gen) {
    stats.fileGets++;
    if (req.headers.authorization !== undefined) {
      stats.fileGetsWithAuth++;
    } else {
      stats.fileGetsWithoutAuth++;
    }
    if (throttled(res, 'file')) {
      return;
    }
    if (config.fileDelayMs > 0) {
      setTimeout(() => fileAfterDelay(req, res, id, n, gen), config.fileDelayMs);
      return;
    }
    fileAfterDelay(req, res, id, n, gen);
  }

  function fileAfterDelay(req, res, id, n, gen) {
    const requires = config.requiresAccessToken ?? Boolean(config.requireToken);
    if (config.redirectFiles) {
      const target = `http://${host}:${otherPort}/bulk-files/${id}/${n}?g=${gen}`;
      res.writeHead(307, { Location: target, 'Content-Length': 0 }).end();
      return;
    }
    serveFile(res, id, n, gen, requires, req);
  }

  return {
    // True when the request was a bulk one (and has been answered).
    handle(req, res, segs, pairs) {
      const m = req.method;
      if (segs.length === 1 && segs[0] === '$export' && (m === 'GET' || m === 'POST')) {
        kickoff(req, res, 'system', null, pairs);
      } else if (segs.length === 2 && segs[0] === 'Patient' && segs[1] === '$export') {
        kickoff(req, res, 'patient', null, pairs);
      } else if (segs.length === 3 && segs[0] === 'Group' && segs[2] === '$export') {
        kickoff(req, res, 'group', segs[1], pairs);
      } else if (segs.length === 2 && segs[0] === '$export-status' && (m === 'GET' || m === 'DELETE')) {
        status(req, res, segs[1]);
      } else if (segs.length === 3 && segs[0] === '$export-file' && m === 'GET') {
        file(req, res, segs[1], Number(segs[2]), new URLSearchParams(req.url.split('?')[1] ?? '').get('g'));
      } else {
        return false;
      }
      return true;
    },
    configure(patch) {
      config = { ...config, ...patch };
      return config;
    },
    reset() {
      config = { ...DEFAULT_CONFIG };
      jobs = new Map();
      stats = counters();
    },
    report() {
      return { config, stats, jobs: jobs.size, otherOrigin: `http://${host}:${otherPort}` };
    },
    close() {
      other.closeAllConnections?.();
      other.close();
    },
  };
}
