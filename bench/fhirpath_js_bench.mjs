// fhirpath.js side of bench/fhirpath_vs_js.sh: the same expressions over the same
// already-parsed QuestionnaireResponses; prints "<evals/s>" per expression, one per line.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(process.env.FHIRPATH_JS_DIR + '/package.json');
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');
const [resourcesFile, exprFile, roundsArg] = process.argv.slice(2);
const resources = JSON.parse(readFileSync(resourcesFile, 'utf8'));  // parsing is not timed
const exprs = readFileSync(exprFile, 'utf8').split('\n').filter((l) => l.trim());
const rounds = Number(roundsArg || 3);
for (const expr of exprs) {
  const f = fhirpath.compile(expr, r4);
  for (const r of resources.slice(0, 200)) f(r);  // warm-up (JIT)
  let best = 0, trues = 0;
  for (let k = 0; k < rounds; ++k) {
    const c0 = process.cpuUsage();
    trues = 0;
    for (const r of resources) { const out = f(r); if (out.length && out[0] === true) ++trues; }
    const c = process.cpuUsage(c0);
    best = Math.max(best, resources.length / ((c.user + c.system) / 1e6));
  }
  console.log(`${best.toFixed(0)} ${trues}`);
}
