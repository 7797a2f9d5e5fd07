// Renders a report.html made by `sdoh-bridge report` in headless Chromium (Debian `chromium`),
// driven over the Chrome DevTools Protocol on a pipe (--remote-debugging-pipe: no port, no
// network), and
//   --json FILE        checks the DOM against report.json: one section per table, each with its
//                      chart (a rendered <svg role="img"> with a <title>, one bar or "suppressed"
//                      per row) and a table whose every cell shows what report.json says;
//   --axe              injects axe-core (npm axe-core, tests/report/browser/node_modules) and
//                      fails on any violation of impact "serious" or "critical";
//   --screenshot FILE  saves a PNG (--width CSS px, default 1000; --max-height px, default the
//                      whole page).
// The page must load nothing: any request other than the report file itself fails the check.
// Usage: node check_report.mjs --html report.html [--json report.json] [--axe]
//                              [--screenshot FILE] [--width N] [--max-height N]
// Exit 0 when every check passed; 1 with the failures listed; 2 on a usage or setup error
// (chromium or axe-core missing).
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// Exactly the flags issue 8 names, plus a fresh profile and the DevTools pipe.
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const STEP_TIMEOUT_MS = 90_000; // generous: the machine is shared; not an assertion on speed

function usage(message) {
  console.error(`check_report: ${message}`);
  console.error(
    "usage: node check_report.mjs --html report.html [--json report.json] [--axe] " +
      "[--screenshot FILE] [--width N] [--max-height N]",
  );
  process.exit(2);
}

// A setup problem (not a failed check): exit 2 with what to do.
function setupError(message) {
  console.error(`check_report: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { width: 1000, maxHeight: 0, axe: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--html") o.html = path.resolve(value());
    else if (a === "--json") o.json = path.resolve(value());
    else if (a === "--axe") o.axe = true;
    else if (a === "--screenshot") o.screenshot = path.resolve(value());
    else if (a === "--width") o.width = Number(value());
    else if (a === "--max-height") o.maxHeight = Number(value());
    else usage(`unknown argument '${a}'`);
  }
  if (!o.html) usage("--html is required");
  if (!fs.existsSync(o.html)) usage(`no such file: ${o.html}`);
  if (!(o.width > 0) || !(o.maxHeight >= 0)) usage("--width and --max-height are numbers");
  return o;
}

function findChromium() {
  const candidates = [];
  if (process.env.CHROMIUM) {
    candidates.push(process.env.CHROMIUM);
  } else {
    for (const dir of (process.env.PATH || "").split(":")) {
      if (dir) candidates.push(path.join(dir, "chromium"));
    }
    candidates.push("/usr/bin/chromium");
  }
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return null;
}

function axeSource() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const file = path.join(here, "node_modules", "axe-core", "axe.min.js");
  if (!fs.existsSync(file)) {
    setupError(`axe-core is not installed: run \`npm ci\` in ${here} (scripts/test.sh does)`);
  }
  return fs.readFileSync(file, "utf8");
}

// A minimal CDP client over Chromium's pipe: JSON messages separated by NUL bytes.
class Cdp {
  constructor(toBrowser, fromBrowser) {
    this.toBrowser = toBrowser;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    this.buffer = "";
    fromBrowser.setEncoding("utf8");
    fromBrowser.on("data", (chunk) => {
      this.buffer += chunk;
      let end;
      while ((end = this.buffer.indexOf("\0")) >= 0) {
        const message = JSON.parse(this.buffer.slice(0, end));
        this.buffer = this.buffer.slice(end + 1);
        this.dispatch(message);
      }
    });
  }
  dispatch(m) {
    if (m.id !== undefined && this.pending.has(m.id)) {
      const { resolve, reject, method } = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) reject(new Error(`${method}: ${m.error.message}`));
      else resolve(m.result);
      return;
    }
    for (const l of this.listeners) l(m);
  }
  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    return withTimeout(
      new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject, method });
        this.toBrowser.write(JSON.stringify(message) + "\0");
      }),
      method,
    );
  }
  on(listener) {
    this.listeners.push(listener);
  }
  // Chromium went away: every pending command fails now rather than at its timeout.
  abort(reason) {
    for (const { reject, method } of this.pending.values()) reject(new Error(`${method}: ${reason}`));
    this.pending.clear();
  }
  waitFor(method, sessionId) {
    return withTimeout(
      new Promise((resolve) => {
        this.on((m) => {
          if (m.method === method && m.sessionId === sessionId) resolve(m.params);
        });
      }),
      `waiting for ${method}`,
    );
  }
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer from chromium in ${STEP_TIMEOUT_MS / 1000} s`)),
      STEP_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// What the page shows: per section, its heading, chart and table, read from the live DOM.
const READ_DOM = `(() => {
  const text = (el) => (el ? el.textContent.replace(/\\s+/g, " ").trim() : null);
  return {
    lang: document.documentElement.getAttribute("lang"),
    title: document.title,
    scripts: document.querySelectorAll("script").length,
    sections: [...document.querySelectorAll("section")].map((s) => {
      const svgs = [...s.querySelectorAll("svg")];
      const svg = svgs[0];
      const box = svg ? svg.getBoundingClientRect() : null;
      const titleId = svg ? svg.getAttribute("aria-labelledby") : null;
      const titleEl = titleId ? document.getElementById(titleId) : null;
      const table = s.querySelector("table");
      return {
        heading: text(s.querySelector("h2")),
        svgCount: svgs.length,
        svg: svg && {
          role: svg.getAttribute("role"),
          title: text(svg.querySelector("title")),
          labelledByTitle: !!titleEl && titleEl.tagName.toLowerCase() === "title" &&
                           svg.contains(titleEl),
          width: box.width,
          height: box.height,
          bars: [...svg.querySelectorAll("rect.bar")].map((r) => ({
            width: Number(r.getAttribute("width")),
            rendered: r.getBoundingClientRect().height > 0,
          })),
          labels: [...svg.querySelectorAll("text")].map(text),
        },
        tableCount: s.querySelectorAll("table").length,
        caption: table ? text(table.querySelector("caption")) : null,
        header: table ? [...table.querySelectorAll("thead th")].map(text) : [],
        headerScopes: table ? [...table.querySelectorAll("thead th")].map((c) => c.getAttribute("scope")) : [],
        rows: table ? [...table.querySelectorAll("tbody tr")].map((tr) =>
          [...tr.children].map((c) => ({ tag: c.tagName.toLowerCase(), scope: c.getAttribute("scope"), text: text(c) }))) : [],
      };
    }),
  };
})()`;

const AXE_RUN = `axe.run(document, { resultTypes: ["violations"] }).then((r) => ({
  version: axe.version,
  violations: r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    count: v.nodes.length,
  })),
}))`;

const pct = (v) => v.toFixed(1);

// What report.json says a table row shows, cell by cell (label first).
function expectedRow(table, row) {
  const cells = [row.label, ...row.counts.map(String)];
  if (row.rate_percent === null) {
    cells.push("suppressed", "suppressed");
  } else {
    cells.push(`${pct(row.rate_percent)}%`, `${pct(row.ci_low_percent)}–${pct(row.ci_high_percent)}%`);
  }
  for (const m of table.medians || []) {
    const over = row.counts[m.count_column];
    cells.push(row[m.key] !== null ? String(row[m.key])
               : typeof over === "string" ? "suppressed" : "—");
  }
  cells.push(row.note);
  return cells;
}

function checkDom(dom, report, failures) {
  const fail = (m) => failures.push(m);
  if (dom.lang !== "en") fail(`<html lang> is ${JSON.stringify(dom.lang)}, expected "en"`);
  if (dom.scripts !== 0) fail(`the page has ${dom.scripts} <script> elements`);
  if (dom.sections.length !== report.tables.length) {
    fail(`${dom.sections.length} sections, report.json has ${report.tables.length} tables`);
  }
  const n = Math.min(dom.sections.length, report.tables.length);
  for (let t = 0; t < n; ++t) {
    const s = dom.sections[t];
    const jt = report.tables[t];
    const where = `table ${jt.id}`;
    if (s.heading !== jt.title) fail(`${where}: heading ${JSON.stringify(s.heading)}, expected ${JSON.stringify(jt.title)}`);
    // The chart.
    if (s.svgCount !== 1 || !s.svg) {
      fail(`${where}: ${s.svgCount} charts, expected 1`);
    } else {
      if (s.svg.role !== "img") fail(`${where}: chart role ${s.svg.role}, expected img`);
      if (!s.svg.title || !s.svg.labelledByTitle) fail(`${where}: chart has no <title> it is labelled by`);
      if (!(s.svg.width > 0 && s.svg.height > 0)) fail(`${where}: chart not rendered (${s.svg.width}x${s.svg.height})`);
      const shown = jt.rows.filter((r) => r.rate_percent !== null);
      if (s.svg.bars.length !== shown.length) {
        fail(`${where}: ${s.svg.bars.length} bars, expected ${shown.length} (rows with a published rate)`);
      } else {
        shown.forEach((r, i) => {
          const want = Math.round((r.rate_percent / 100) * 360);
          // The bar is drawn from the unrounded rate; one decimal of a percent moves it < 1 px.
          if (Math.abs(s.svg.bars[i].width - want) > 1) {
            fail(`${where}: bar ${i} (${r.label}) is ${s.svg.bars[i].width} px, expected ~${want} for ${r.rate_percent}%`);
          }
        });
      }
      for (const r of jt.rows) {
        if (!s.svg.labels.includes(r.label)) fail(`${where}: chart has no label ${JSON.stringify(r.label)}`);
        const value = r.rate_percent === null ? "suppressed" : `${pct(r.rate_percent)}%`;
        if (!s.svg.labels.some((l) => l === value || l === `${value} *`)) {
          fail(`${where}: chart does not show ${value} for ${JSON.stringify(r.label)}`);
        }
      }
    }
    // The table.
    if (s.tableCount !== 1) fail(`${where}: ${s.tableCount} tables, expected 1`);
    if (s.caption !== jt.caption) fail(`${where}: caption ${JSON.stringify(s.caption)}`);
    const header = [jt.row_header, ...jt.columns, jt.rate, "95% CI (Wilson)"];
    for (const m of jt.medians || []) header.push(m.label);
    header.push("Note");
    if (JSON.stringify(s.header) !== JSON.stringify(header)) {
      fail(`${where}: header ${JSON.stringify(s.header)}, expected ${JSON.stringify(header)}`);
    }
    if (s.headerScopes.some((sc) => sc !== "col")) fail(`${where}: a column header without scope=col`);
    if (s.rows.length !== jt.rows.length) {
      fail(`${where}: ${s.rows.length} rows, report.json has ${jt.rows.length}`);
      continue;
    }
    jt.rows.forEach((jr, r) => {
      const cells = s.rows[r];
      if (cells[0].tag !== "th" || cells[0].scope !== "row") fail(`${where} row ${r}: first cell is not <th scope=row>`);
      const got = cells.map((c) => c.text);
      const want = expectedRow(jt, jr);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        fail(`${where} row ${r}: page shows ${JSON.stringify(got)}, report.json says ${JSON.stringify(want)}`);
      }
    });
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const report = o.json ? JSON.parse(fs.readFileSync(o.json, "utf8")) : null;
  const axe = o.axe ? axeSource() : null;
  const chromium = findChromium();
  if (!chromium) {
    setupError(
      "chromium not found (Debian package `chromium`; scripts/deps.sh --test installs it, " +
        "or set CHROMIUM=/path/to/chromium)",
    );
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "sdoh-chromium-"));
  const args = [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, "--remote-debugging-pipe", "about:blank"];
  const child = spawn(chromium, args, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  let spawnError = null;
  child.on("error", (e) => {
    spawnError = e;
  });
  const cdp = new Cdp(child.stdio[3], child.stdio[4]);
  for (const stream of [child.stdio[3], child.stdio[4]]) stream.on("error", () => {});
  exited.then(({ code, signal }) => cdp.abort(`chromium exited (code ${code}, signal ${signal})`));
  const failures = [];
  try {
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
    const send = (m, p) => cdp.send(m, p, sessionId);
    const fileUrl = pathToFileURL(o.html).href;
    const requests = [];
    cdp.on((m) => {
      if (m.sessionId === sessionId && m.method === "Network.requestWillBeSent") {
        requests.push(m.params.request.url);
      }
    });
    await send("Network.enable");
    await send("Page.enable");
    await send("Runtime.enable");
    await send("Emulation.setDeviceMetricsOverride", {
      width: o.width, height: 900, deviceScaleFactor: 1, mobile: false,
    });
    const loaded = cdp.waitFor("Page.loadEventFired", sessionId);
    const nav = await send("Page.navigate", { url: fileUrl });
    if (nav.errorText) throw new Error(`loading ${fileUrl}: ${nav.errorText}`);
    await loaded;
    const evaluate = async (expression, awaitPromise = false) => {
      const r = await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise });
      if (r.exceptionDetails) {
        throw new Error(`in the page: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
      }
      return r.result.value;
    };
    for (const url of requests) {
      // A favicon lookup is the browser's, not the page's (headless Chromium does not make one
      // for file: pages today; should it, that is no reason to fail).
      if (url === fileUrl || url === new URL("/favicon.ico", fileUrl).href) continue;
      failures.push(`the page requested ${url} (it must be self-contained)`);
    }
    if (report) {
      const dom = await evaluate(READ_DOM);
      checkDom(dom, report, failures);
      console.log(`DOM: ${dom.sections.length} sections checked against report.json`);
    }
    if (axe) {
      await evaluate(axe);
      const result = await evaluate(AXE_RUN, true);
      const blocking = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
      console.log(`axe-core ${result.version}: ${result.violations.length} violations ` +
                  `(${blocking.length} serious or critical)`);
      for (const v of result.violations) {
        const line = `  ${v.impact} ${v.id}: ${v.help} (${v.count} nodes, e.g. ${v.nodes.join(", ")})`;
        console.log(line);
        if (blocking.includes(v)) failures.push(`axe: ${line.trim()}`);
      }
    }
    if (o.screenshot) {
      const metrics = await send("Page.getLayoutMetrics");
      const full = Math.ceil(metrics.cssContentSize.height);
      const height = o.maxHeight > 0 ? Math.min(full, o.maxHeight) : full;
      const shot = await send("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
        clip: { x: 0, y: 0, width: o.width, height, scale: 1 },
      });
      fs.mkdirSync(path.dirname(o.screenshot), { recursive: true });
      fs.writeFileSync(o.screenshot, Buffer.from(shot.data, "base64"));
      console.log(`screenshot: ${o.screenshot} (${o.width}x${height} of ${full} px)`);
    }
    await cdp.send("Browser.close").catch(() => {});
  } catch (e) {
    failures.push(`${e.message}${spawnError ? ` (${spawnError.message})` : ""}\nchromium stderr:\n${stderr}`);
    child.kill("SIGKILL");
  }
  await withTimeout(exited, "chromium exit").catch(() => child.kill("SIGKILL"));
  fs.rmSync(profile, { recursive: true, force: true });
  if (failures.length > 0) {
    console.error(`FAILED (${failures.length}):`);
    for (const f of failures) console.error(`  ${f}`);
    process.exit(1);
  }
  console.log("OK");
}

main().catch((e) => {
  console.error(`check_report: ${e.stack || e}`);
  process.exit(1);
});
