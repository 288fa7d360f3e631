// Workload `io`: GET /<service>/io?ms=IO_MS under the level's load (k6/lib/lab.js:
// closed, VUS back to back; or open, an arrival rate), for DURATION_S. The request waits IO_MS on I/O in the
// app (time.sleep: it blocks a thread or process, and yields under gevent and eventlet).
// One request class, `io`, steady from WARMUP_S to DURATION_S.
import { Lab, intEnv, readConfig, scenario } from './lib/lab.js';

const config = readConfig();
const ioMs = intEnv('IO_MS', undefined, 0, 20000);
const lab = new Lab(config, 'io.js', { io: [config.warmupS, config.durationS] }, { io_ms: ioMs });

export const options = lab.options({ io: scenario(config, { durationS: config.durationS }) });
export function setup() { lab.setup(); }
export default function () { lab.get(`/io?ms=${ioMs}`, 'io', undefined, ioMs); }
export function handleSummary(data) { return lab.summary(data); }
