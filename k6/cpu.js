// Workload `cpu`: GET /<service>/cpu?ms=CPU_MS under the level's load (k6/lib/lab.js), for
// DURATION_S. Each request burns CPU_MS of its thread's own CPU time in pure
// Python; the app reports it as Server-Timing cpu;dur. One request class, `cpu`.
import { Lab, intEnv, readConfig, scenario } from './lib/lab.js';

const config = readConfig();
const cpuMs = intEnv('CPU_MS', undefined, 1, 2000);
const lab = new Lab(config, 'cpu.js', { cpu: [config.warmupS, config.durationS] }, { cpu_ms: cpuMs });

export const options = lab.options({ cpu: scenario(config, { durationS: config.durationS }) });
export function setup() { lab.setup(); }
export default function () { lab.get(`/cpu?ms=${cpuMs}`, 'cpu'); }
export function handleSummary(data) { return lab.summary(data); }
