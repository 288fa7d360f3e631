// Workload `db`: GET /<service>/db?ms=DB_MS&driver=DRIVER&pool=0|1 under the level's load
// (k6/lib/lab.js); the app runs
// SELECT pg_sleep(DB_MS / 1000) on PostgreSQL through DRIVER, on a connection of its own
// (CONNECTIONS=per-request) or from its pool (CONNECTIONS=pool). One request class, `db`.
//
// A request that fails (a 503: no connection to be had) is followed, under a closed load,
// by a wait of DB_MS, as long as its query would have taken (lab.backoff). Failures that
// are not a 503 are counted (count_not_503).
import { Lab, choiceEnv, intEnv, readConfig, scenario } from './lib/lab.js';

const config = readConfig();
const dbMs = intEnv('DB_MS', undefined, 0, 20000);
const driver = choiceEnv('DRIVER', undefined, ['psycopg2', 'psycopg2-green', 'psycopg', 'pg8000']);
const connections = choiceEnv('CONNECTIONS', undefined, ['per-request', 'pool']);
const lab = new Lab(config, 'db.js', { db: [config.warmupS, config.durationS] },
  { db_ms: dbMs, driver, connections }, {}, ['not_503']);
const path = `/db?ms=${dbMs}&driver=${driver}&pool=${connections === 'pool' ? 1 : 0}`;

export const options = lab.options({ db: scenario(config, { durationS: config.durationS }) });
export function setup() { lab.setup(); }
export default function () {
  const res = lab.get(path, 'db', undefined, dbMs);
  if (res && res.status !== 200) {
    if (res.status !== 503) lab.count('not_503');
    lab.backoff(dbMs / 1000);
  }
}
export function handleSummary(data) { return lab.summary(data); }
