// I/O-bound load on one lab configuration: VUS virtual users, each requesting
// GET /<service>/io?ms=IO_MS back to back (a closed model: no think time), for DURATION_S.
//
// What it records, besides k6's own http_req_* metrics:
//   server_inflight       X-Inflight of every response: requests in flight in the container
//                         when this one entered the app. Its max is the server-side peak.
//   steady_completions    responses (200) that completed inside the steady window
//                         [WARMUP_S, DURATION_S] after the scenario started: throughput is
//                         steady_completions / (DURATION_S - WARMUP_S).
//   steady_handler_ms     Server-Timing app;dur of those responses: time inside the app (ms).
//   steady_latency_ms     http_req_duration of those responses (ms), for p50/p95/p99.
// The summary (handleSummary) is written as JSON to SUMMARY_PATH, with the run parameters
// under "lab", for wsgilab to read.
import http from 'k6/http';
import exec from 'k6/execution';
import { check, fail } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { readConfig } from './lib/config.js';

const config = readConfig();

export const options = {
  scenarios: {
    io: {
      executor: 'constant-vus',
      vus: config.vus,
      duration: `${config.durationS}s`,
      gracefulStop: `${config.gracefulStopS}s`,
    },
  },
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(95)', 'p(99)', 'count'],
  // Setup and teardown run once; their time is not part of the measured window.
  setupTimeout: '30s',
};

const serverInflight = new Trend('server_inflight');
const steadyCompletions = new Counter('steady_completions');
const steadyHandlerMs = new Trend('steady_handler_ms', true);
const steadyLatencyMs = new Trend('steady_latency_ms', true);

const url = `${config.baseUrl}/${config.service}/io?ms=${config.ioMs}`;

export function setup() {
  const res = http.get(`${config.baseUrl}/${config.service}/healthz`, { responseType: 'text' });
  if (res.status !== 200) {
    fail(`${config.service} is not healthy behind ${config.baseUrl}: HTTP ${res.status}`);
  }
}

function appDurationMs(res) {
  const match = /app;dur=([0-9.]+)/.exec(res.headers['Server-Timing'] || '');
  return match ? parseFloat(match[1]) : NaN;
}

export default function () {
  const res = http.get(url, { tags: { name: 'io' } });
  const done = Date.now();
  const ok = check(res, {
    'status is 200': (r) => r.status === 200,
    'reports X-Inflight': (r) => /^\d+$/.test(r.headers['X-Inflight'] || ''),
  });
  if (!ok) return;
  serverInflight.add(parseInt(res.headers['X-Inflight'], 10));
  const elapsedS = (done - exec.scenario.startTime) / 1000;
  if (elapsedS >= config.warmupS && elapsedS <= config.durationS) {
    steadyCompletions.add(1);
    steadyHandlerMs.add(appDurationMs(res));
    steadyLatencyMs.add(res.timings.duration);
  }
}

export function handleSummary(data) {
  data.lab = {
    script: 'io.js',
    service: config.service,
    vus: config.vus,
    duration_s: config.durationS,
    warmup_s: config.warmupS,
    io_ms: config.ioMs,
    graceful_stop_s: config.gracefulStopS,
    base_url: config.baseUrl,
  };
  return { [config.summaryPath]: JSON.stringify(data, null, 1) };
}
