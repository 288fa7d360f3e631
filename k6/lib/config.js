// Run parameters of a lab k6 script, read from the environment (set by `make bench`).
// Anything malformed stops k6 in its init phase, before a single request is sent.

// Network rule: load goes to the lab's own front end on loopback, nowhere else.
const ALLOWED_BASE = /^http:\/\/127\.0\.0\.1:\d{1,5}$/;

function intEnv(name, fallback, low, high) {
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

export function readConfig() {
  const baseUrl = __ENV.BASE_URL || 'http://127.0.0.1:8080';
  if (!ALLOWED_BASE.test(baseUrl)) {
    throw new Error(`BASE_URL must be http://127.0.0.1:<port>, got '${baseUrl}'`);
  }
  const service = __ENV.SERVICE;
  if (!service || !/^[a-z0-9][a-z0-9-]*$/.test(service)) {
    throw new Error(`SERVICE must name a lab configuration, got '${service}'`);
  }
  const config = {
    baseUrl,
    service,
    vus: intEnv('VUS', undefined, 1, 10000),
    durationS: intEnv('DURATION_S', undefined, 1, 3600),
    warmupS: intEnv('WARMUP_S', 0, 0, 3600),
    ioMs: intEnv('IO_MS', undefined, 0, 20000),
    gracefulStopS: intEnv('GRACEFUL_STOP_S', 30, 0, 600),
    summaryPath: __ENV.SUMMARY_PATH,
  };
  if (config.warmupS >= config.durationS) {
    throw new Error(`WARMUP_S (${config.warmupS}) must be shorter than DURATION_S (${config.durationS})`);
  }
  if (!config.summaryPath) throw new Error('SUMMARY_PATH is required');
  return config;
}
