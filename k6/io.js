// Workload `io`: VUS virtual users, each requesting GET /<service>/io?ms=IO_MS back to back
// (a closed model: no think time), for DURATION_S. The request waits IO_MS on I/O in the
// app (time.sleep: it blocks a thread or process, and yields under gevent and eventlet).
// One request class, `io`, steady from WARMUP_S to DURATION_S.
import { Lab, constantVus, intEnv, readConfig } from './lib/lab.js';

const config = readConfig();
const ioMs = intEnv('IO_MS', undefined, 0, 20000);
const lab = new Lab(config, 'io.js', { io: [config.warmupS, config.durationS] }, { io_ms: ioMs });

export const options = lab.options({ io: constantVus(config, config.vus, config.durationS) });
export function setup() { lab.setup(); }
export default function () { lab.get(`/io?ms=${ioMs}`, 'io', undefined, ioMs); }
export function handleSummary(data) { return lab.summary(data); }
