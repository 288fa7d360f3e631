// Workload `mixed`: I/O-bound requests alone, then beside CPU-bound ones, in one run.
//
//   0 .. DURATION_S             IO_VUS VUs request /io?ms=IO_MS                (io_alone)
//   DURATION_S .. 2 DURATION_S  the same IO_VUS VUs go on                      (io_beside)
//                               and CPU_VUS more request /cpu?ms=CPU_MS        (cpu)
//
// Each phase's first WARMUP_S seconds are left out. The I/O requests' latency alone and
// beside the CPU requests comes from the same run, the same container, the same minute.
import { Lab, intEnv, readConfig, scenario } from './lib/lab.js';

const config = readConfig();
const ioMs = intEnv('IO_MS', undefined, 0, 20000);
const cpuMs = intEnv('CPU_MS', undefined, 1, 2000);
const cpuVus = intEnv('CPU_VUS', undefined, 1, 10000);
if (cpuVus >= config.vus) throw new Error(`CPU_VUS (${cpuVus}) must be fewer than VUS (${config.vus})`);
const ioVus = config.vus - cpuVus;
const d = config.durationS;
const w = config.warmupS;
const lab = new Lab(config, 'mixed.js',
  { io_alone: [w, d], io_beside: [d + w, 2 * d], cpu: [d + w, 2 * d] },
  { io_ms: ioMs, cpu_ms: cpuMs, cpu_vus: cpuVus, io_vus: ioVus },
  { io: 0, cpu: d });

// The I/O requests take io_vus / VUS of the load throughout; the CPU requests the rest,
// in the second phase (closed: that many VUs; open: that share of the arrival rate).
export const options = lab.options({
  io: scenario(config, { durationS: 2 * d, share: ioVus / config.vus, fn: 'io' }),
  cpu: scenario(config, { durationS: d, startS: d, share: cpuVus / config.vus, fn: 'cpu' }),
});
export function setup() { lab.setup(); }
export function io() { lab.get(`/io?ms=${ioMs}`, (t) => (t < d ? 'io_alone' : 'io_beside'), undefined, ioMs); }
export function cpu() { lab.get(`/cpu?ms=${cpuMs}`, 'cpu', undefined, cpuMs); }
export function handleSummary(data) { return lab.summary(data); }
