// The lab's shared k6 library: run parameters, scenarios, the steady windows, the
// X-Inflight / Server-Timing metrics and handleSummary. Each workload's script (io.js,
// cpu.js, mixed.js, ...) declares its own parameters and request classes over it.
//
// Metrics, per request class C (a workload's kind of request: io, cpu, io_beside, ...):
//   steady_completions_C   responses (200) that completed inside C's steady window
//   steady_latency_ms_C    their http_req_duration (ms): p50/p95/p99
//   steady_app_ms_C        their Server-Timing app;dur: time inside the app (ms)
//   steady_cpu_ms_C        their Server-Timing cpu;dur: CPU time the request used (ms)
//   steady_app_s_C         seconds C's requests spent in the app inside C's window, summed
//                          over every response (200), whenever it completed: divided by
//                          the window's length, the time-average number of C's requests
//                          in the app (Little's L, measured rather than estimated as X x W)
// and for every response of the load, whatever its class and time:
//   server_inflight        X-Inflight: requests in flight in the container when this one
//                          entered the app, added only where it exceeds the VU's own
//                          highest so far: its max (the only figure read) is the
//                          server-side peak, at a small share of the samples.
// and a script's own counters (`counters`), as count_<name>.
// Requests of the load are tagged lab_phase:load, the setup() probe lab_phase:setup; the
// thresholds below exist only to bring those sub-metrics into the summary.
//
// The load's shape lives here and nowhere else (`scenario`): a level's load is closed
// (LOAD_MODEL=closed: VUS virtual users back to back, constant-vus) or open
// (LOAD_MODEL=open: RATE_PER_UNIT requests per RATE_TIME_UNIT_S seconds,
// constant-arrival-rate, on VUS pre-allocated VUs). With SEND_PROBABILITY below 1 (Poisson
// arrivals by thinning, wsgilab/load.py) each of k6's iterations sends with that
// probability. Under an open load every request sent adds to `lab_arrivals`, whose sample
// times (in the raw output) give the measured inter-arrival times; k6 counts an iteration
// it had no free VU for in `dropped_iterations`.
import http from 'k6/http';
import exec from 'k6/execution';
import { fail, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

// The instrument's health endpoint (services/instrument/labinstrument/health.py).
export const HEALTH_PATH = '/_lab/health';

// Network rule: load goes to the lab's own front end on loopback, nowhere else.
const ALLOWED_BASE = /^http:\/\/127\.0\.0\.1:\d{1,5}$/;

export function intEnv(name, fallback, low, high) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') {
    if (fallback === undefined) throw new Error(`${name} is required`);
    return fallback;
  }
  if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a whole number, got '${raw}'`);
  const value = parseInt(raw, 10);
  if (value < low || value > high) throw new Error(`${name} must be in [${low}, ${high}], got ${value}`);
  return value;
}

export function choiceEnv(name, fallback, choices) {
  const value = __ENV[name] || fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  if (!choices.includes(value)) throw new Error(`${name} must be one of ${choices.join(', ')}, got '${value}'`);
  return value;
}

// The parameters every script takes. Anything malformed stops k6 in its init phase,
// before a single request is sent.
export function readConfig() {
  const baseUrl = __ENV.BASE_URL || 'http://127.0.0.1:8080';
  if (!ALLOWED_BASE.test(baseUrl)) {
    throw new Error(`BASE_URL must be http://127.0.0.1:<port>, got '${baseUrl}'`);
  }
  const service = __ENV.SERVICE;
  if (!service || !/^[a-z0-9][a-z0-9-]*$/.test(service)) {
    throw new Error(`SERVICE must name a lab configuration, got '${service}'`);
  }
  const model = choiceEnv('LOAD_MODEL', 'closed', ['closed', 'open']);
  const config = {
    baseUrl,
    service,
    model,
    vus: intEnv('VUS', undefined, 1, 10000),
    durationS: intEnv('DURATION_S', undefined, 1, 3600),
    warmupS: intEnv('WARMUP_S', 0, 0, 3600),
    gracefulStopS: intEnv('GRACEFUL_STOP_S', 30, 0, 600),
    summaryPath: __ENV.SUMMARY_PATH,
  };
  if (config.warmupS >= config.durationS) {
    throw new Error(`WARMUP_S (${config.warmupS}) must be shorter than DURATION_S (${config.durationS})`);
  }
  if (!config.summaryPath) throw new Error('SUMMARY_PATH is required');
  if (model === 'open') {
    config.ratePerUnit = intEnv('RATE_PER_UNIT', undefined, 1, 1000000000);
    config.rateTimeUnitS = intEnv('RATE_TIME_UNIT_S', 1, 1, 1000000);
    const p = parseFloat(__ENV.SEND_PROBABILITY || '1');
    if (!(p > 0 && p <= 1)) throw new Error(`SEND_PROBABILITY must be in (0, 1], got '${__ENV.SEND_PROBABILITY}'`);
    config.sendProbability = p;
  }
  return config;
}

// Compiled once: a RegExp built per request cost the load side measurably.
const TIMINGS = {
  app: /(?:^|,\s*)app;dur=([0-9.]+)/,
  cpu: /(?:^|,\s*)cpu;dur=([0-9.]+)/,
};
const COUNT = /^\d+$/;

function timing(header, name) {
  const match = TIMINGS[name].exec(header || '');
  return match ? parseFloat(match[1]) : NaN;
}

// The level's load as a k6 scenario running function `fn` for `durationS` seconds from
// `startS`: closed, `share` of the VUs back to back (no think time); open, `share` of the
// arrival rate on `share` of the VUs. A script with several scenarios gives each its share.
export function scenario(config, { durationS, startS = 0, share = 1, fn = 'default' }) {
  const common = {
    duration: `${durationS}s`,
    startTime: `${startS}s`,
    gracefulStop: `${config.gracefulStopS}s`,
    exec: fn,
  };
  if (config.model === 'closed') {
    return { executor: 'constant-vus', vus: Math.max(1, Math.round(config.vus * share)), ...common };
  }
  // preAllocatedVUs = maxVUs: k6 starts at most one extra VU at a time, so an iteration with
  // no free VU is dropped even below maxVUs (k6 #2837).
  const vus = Math.max(1, Math.ceil(config.vus * share));
  return {
    executor: 'constant-arrival-rate',
    rate: Math.max(1, Math.round(config.ratePerUnit * share)),
    timeUnit: `${config.rateTimeUnitS}s`,
    preAllocatedVUs: vus,
    maxVUs: vus,
    ...common,
  };
}

export class Lab {
  // windows: {className: [fromS, toS]} in seconds of test time; starts: {scenarioName:
  // startS}, the offset of each scenario (0 when omitted); counters: names of the
  // script's own counters (count_<name>), incremented with count(name).
  constructor(config, script, windows, params = {}, starts = {}, counters = []) {
    this.config = config;
    this.script = script;
    this.windows = windows;
    this.params = params;
    this.starts = starts;
    // Classes that may see no completion in their window (a rare request of a user's mix):
    // read as absent, not as a failed measurement.
    this.optional = [];
    this.inflight = new Trend('server_inflight');
    this.peak = -1;
    this.arrivals = new Counter('lab_arrivals');
    this.counters = {};
    for (const name of counters) this.counters[name] = new Counter(`count_${name}`);
    this.metrics = {};
    for (const name of Object.keys(windows)) {
      this.metrics[name] = {
        completions: new Counter(`steady_completions_${name}`),
        latency: new Trend(`steady_latency_ms_${name}`, true),
        app: new Trend(`steady_app_ms_${name}`, true),
        cpu: new Trend(`steady_cpu_ms_${name}`, true),
        appS: new Counter(`steady_app_s_${name}`),
      };
    }
  }

  options(scenarios) {
    return {
      scenarios,
      discardResponseBodies: true,
      summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(95)', 'p(99)', 'count'],
      setupTimeout: '30s',
      thresholds: {
        'http_reqs{lab_phase:load}': ['count>=0'],
        'http_req_failed{lab_phase:load}': ['rate>=0'],
      },
    };
  }

  url(path) {
    return `${this.config.baseUrl}/${this.config.service}${path}`;
  }

  // setup(): the configuration must answer its health check, or nothing is sent.
  setup() {
    const res = http.get(this.url(HEALTH_PATH), { responseType: 'text', tags: { lab_phase: 'setup' } });
    if (res.status !== 200) {
      fail(`${this.config.service} is not healthy behind ${this.config.baseUrl}: HTTP ${res.status}`);
    }
  }

  // Seconds since the test started (scenario start + the scenario's offset).
  elapsedS() {
    return (Date.now() - exec.scenario.startTime) / 1000 + (this.starts[exec.scenario.name] || 0);
  }

  // GET `path` and record the response under the class classOf(elapsed seconds) returns
  // (or classOf itself, a class name), when it completed inside that class's window.
  //
  // staggerMs: before its first request a VU waits a random 0..staggerMs (the request's
  // own length). constant-vus starts every VU at once, and requests of equal length then
  // keep finishing together, in waves: a steady window would hold a whole number of waves
  // (measured: 4 VUs of 530 ms gave L = 4.2, more than the VUs). Staggered, completions
  // spread out; the stagger falls inside the warm-up.
  get(path, classOf, name, staggerMs = 0) {
    return this.request('GET', path, { classes: classOf, name, staggerMs });
  }

  // Send one request of the load and record it. `classes`: a class name, a list of names
  // (the request counts in each: a user's mix counts each path and the whole), or a
  // function of the elapsed seconds returning a name. Any 2xx answer counts.
  //
  // Under an open load nothing is staggered (arrivals are the executor's), and an iteration
  // of a thinned (Poisson) load sends only with SEND_PROBABILITY: otherwise request()
  // returns null, an empty tick.
  request(method, path, { body = null, headers = {}, classes, name, staggerMs = 0 } = {}) {
    if (this.config.model === 'open') {
      if (this.config.sendProbability < 1 && Math.random() >= this.config.sendProbability) return null;
      this.arrivals.add(1);
    } else if (staggerMs > 0 && exec.vu.iterationInScenario === 0) {
      sleep((Math.random() * staggerMs) / 1000);
    }
    const res = http.request(method, this.url(path), body, {
      headers, tags: { name: name || path.split('?')[0], lab_phase: 'load' },
    });
    const elapsed = this.elapsedS();
    // Plain tests, not k6 checks: a check adds a sample per test per request, and no
    // figure reads them (a failure is http_req_failed's; an answer without X-Inflight is
    // left out of every figure, and a level with none of them fails its summary).
    const got = res.headers;
    const inflightHeader = got['X-Inflight'];
    if (res.status < 200 || res.status >= 300 || !COUNT.test(inflightHeader || '')) return res;
    const inflight = parseInt(inflightHeader, 10);
    if (inflight > this.peak) { this.peak = inflight; this.inflight.add(inflight); }
    const classesAt = (t) => {
      const found = typeof classes === 'function' ? classes(t) : classes;
      return Array.isArray(found) ? found : [found];
    };
    const serverTiming = got['Server-Timing'];
    const appMs = timing(serverTiming, 'app');
    for (const cls of classesAt(elapsed)) {
      const window = this.windows[cls];
      if (window && elapsed >= window[0] && elapsed <= window[1]) {
        const m = this.metrics[cls];
        m.completions.add(1);
        m.latency.add(res.timings.duration);
        m.app.add(appMs);
        const cpu = timing(serverTiming, 'cpu');
        if (!isNaN(cpu)) m.cpu.add(cpu);
      }
    }
    // The part of its time in the app that fell inside a window, for the class at each end
    // of that time (a mixed-load request may start in one phase and end in the next). X x W
    // counts whole requests completed in the window: one in progress at its end is left
    // out, one begun before its start counts in full, and where requests are long beside
    // the window, or come in waves, the two do not cancel (a 24-VU pooled db level, 0.8 s
    // requests in a 4 s window: 20.9 of 24). Summing overlaps has no such edge terms. The
    // app's time is taken to end as the response arrives (nginx's share is a millisecond).
    if (!isNaN(appMs)) {
      const appStart = elapsed - appMs / 1000;
      for (const c of new Set([...classesAt(appStart), ...classesAt(elapsed)])) {
        const w = this.windows[c];
        const overlap = w ? Math.min(elapsed, w[1]) - Math.max(appStart, w[0]) : 0;
        if (overlap > 0) this.metrics[c].appS.add(overlap);
      }
    }
    return res;
  }

  count(name) {
    this.counters[name].add(1);
  }

  // After a refused request a closed-model VU waits `seconds`, as long as the request would
  // have taken, so that refusals do not become a storm of retries; an open load's arrivals
  // do not depend on answers, so it does not wait.
  backoff(seconds) {
    if (this.config.model === 'closed') sleep(seconds);
  }

  summary(data) {
    data.lab = {
      script: this.script,
      service: this.config.service,
      vus: this.config.vus,
      load: {
        model: this.config.model,
        vus: this.config.vus,
        rate_per_unit: this.config.ratePerUnit || null,
        rate_time_unit_s: this.config.rateTimeUnitS || null,
        send_probability: this.config.sendProbability || null,
      },
      duration_s: this.config.durationS,
      warmup_s: this.config.warmupS,
      graceful_stop_s: this.config.gracefulStopS,
      base_url: this.config.baseUrl,
      params: this.params,
      windows: this.windows,
      // The classes in the script's own order (an object's keys may come back in another).
      classes: Object.keys(this.windows),
      optional: this.optional,
    };
    return { [this.config.summaryPath]: JSON.stringify(data, null, 1) };
  }
}
