// Workload `mix`: a user's own request mix (wsgilab/advise), under the level's load
// (k6/lib/lab.js). MIX_FILE names a JSON list of requests, {method, path, body, headers,
// weight}; each iteration sends one, chosen by weight. Each request is its own class
// (r0, r1, ...: per-path latency) and also counts in the class `mix` (the whole).
import { Lab, intEnv, readConfig, scenario } from './lib/lab.js';

const config = readConfig();
// The mix's mean service time, measured alone by the advise run: recorded, and it sizes
// nothing here (the runner sized the VUs from it).
const serviceMs = intEnv('MIX_SERVICE_MS', undefined, 0, 600000);
if (!__ENV.MIX_FILE) throw new Error('MIX_FILE is required');
const mix = JSON.parse(open(__ENV.MIX_FILE));
if (!Array.isArray(mix) || mix.length === 0 || mix.length > 50) {
  throw new Error(`MIX_FILE must hold 1 to 50 requests, got ${Array.isArray(mix) ? mix.length : typeof mix}`);
}
let total = 0;
const cumulative = mix.map((r) => {
  if (typeof r.path !== 'string' || !r.path.startsWith('/')) throw new Error(`a request's path must start with /, got '${r.path}'`);
  if (!(r.weight > 0)) throw new Error(`a request's weight must be above 0, got '${r.weight}'`);
  total += r.weight;
  return total;
});
const windows = { mix: [config.warmupS, config.durationS] };
mix.forEach((_, i) => { windows[`r${i}`] = [config.warmupS, config.durationS]; });
// count_failed_r<i>: requests of r<i> that did not answer 2xx (per-path errors).
const lab = new Lab(config, 'mix.js', windows, { requests: mix.length, service_ms: serviceMs }, {}, mix.map((_, i) => `failed_r${i}`));
lab.optional = mix.map((_, i) => `r${i}`);

export const options = lab.options({ mix: scenario(config, { durationS: config.durationS }) });
export function setup() { lab.setup(); }
export default function () {
  const pick = Math.random() * total;
  const i = cumulative.findIndex((c) => pick < c);
  const r = mix[i];
  const res = lab.request(r.method || 'GET', r.path,
    { body: r.body || null, headers: r.headers || {}, classes: [`r${i}`, 'mix'], name: `r${i}` });
  if (res && (res.status < 200 || res.status >= 300)) lab.count(`failed_r${i}`);
}
export function handleSummary(data) { return lab.summary(data); }
