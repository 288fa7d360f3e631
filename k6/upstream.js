// Workload `upstream`: GET /<service>/upstream?ms=UPSTREAM_MS&client=CLIENT under the
// level's load (k6/lib/lab.js); the app calls the lab's
// upstream service (GET /delay?ms=UPSTREAM_MS) with CLIENT. One request class, `upstream`.
// A failed request is followed by lab.backoff(UPSTREAM_MS), as in db.js.
import { Lab, choiceEnv, intEnv, readConfig, scenario } from './lib/lab.js';

const config = readConfig();
const upstreamMs = intEnv('UPSTREAM_MS', undefined, 0, 20000);
const client = choiceEnv('CLIENT', undefined, ['requests', 'pycurl']);
const lab = new Lab(config, 'upstream.js', { upstream: [config.warmupS, config.durationS] },
  { upstream_ms: upstreamMs, client }, {}, ['not_503']);
const path = `/upstream?ms=${upstreamMs}&client=${client}`;

export const options = lab.options({ upstream: scenario(config, { durationS: config.durationS }) });
export function setup() { lab.setup(); }
export default function () {
  const res = lab.get(path, 'upstream', undefined, upstreamMs);
  if (res && res.status !== 200) {
    if (res.status !== 503) lab.count('not_503');
    lab.backoff(upstreamMs / 1000);
  }
}
export function handleSummary(data) { return lab.summary(data); }
