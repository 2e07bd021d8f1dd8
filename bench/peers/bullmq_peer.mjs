// BullMQ peer: the same command line and JSON output as peers/common.py, in Node.
//
// One Worker (concurrency = --concurrency, default 10), default job options: completed jobs
// are kept (removeOnComplete false), so completion is the queue's completed count. The
// producer uses addBulk, BATCH jobs per call (one MULTI of Lua scripts), like the Python peers'
// bulk calls. The handler reads the clock first and, for a latency probe, reports that time
// over UDP on loopback, and records a throughput job's index (written to --runs-out at exit).
// `saves`: one producer awaiting each queue.add in turn, no worker.
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';

const BATCH = 1000;
const POLL_MS = 20;
const PROBE_WAIT_MS = 5000;

function parse(argv) {
  const args = { command: argv[0], redis: 'redis://127.0.0.1:6379/0', concurrency: 10,
    n: 20000, samples: 500, warmup: 10, timeout: 300 };
  for (let i = 1; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['concurrency', 'n', 'samples', 'warmup', 'timeout']) args[k] = Number(args[k]);
  const url = new URL(args.redis);
  args.connection = { host: url.hostname, port: Number(url.port),
    db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
  return args;
}

const wallSeconds = () => (performance.timeOrigin + performance.now()) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let probeSocket = null;
const runs = [];
function probe(payload) {
  const started = wallSeconds();
  if (payload && payload.i !== undefined) {
    runs.push(payload.i);
  } else if (payload && payload.probe) {
    probeSocket ??= dgram.createSocket('udp4');
    const [port, marker] = payload.probe;
    probeSocket.send(`${marker} ${started}`, port, '127.0.0.1');
  }
}

async function runWorker(args) {
  const worker = new Worker(args.queue, async (job) => { probe(job.data); },
    { connection: args.connection, concurrency: args.concurrency });
  const stop = async () => {
    await worker.close();
    if (args['runs-out']) writeFileSync(args['runs-out'], JSON.stringify(runs));
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await worker.waitUntilReady();
  console.log('READY');
}

async function throughput(args) {
  const queue = new Queue(args.queue, { connection: args.connection });
  await queue.waitUntilReady();
  const start = performance.now();
  for (let first = 0; first < args.n; first += BATCH) {
    const count = Math.min(BATCH, args.n - first);
    await queue.addBulk(Array.from({ length: count }, (_, k) => ({ name: 'noop', data: { i: first + k } })));
  }
  const enqueued = performance.now();
  const deadline = enqueued + args.timeout * 1000;
  let done = 0;
  while (performance.now() < deadline) {
    done = await queue.getCompletedCount();
    if (done >= args.n) break;
    await sleep(POLL_MS);
  }
  const finished = performance.now();
  await queue.close();
  return { n: args.n, completed: done, enqueue_s: (enqueued - start) / 1000,
    e2e_s: done >= args.n ? (finished - start) / 1000 : null };
}

async function latency(args) {
  const queue = new Queue(args.queue, { connection: args.connection });
  await queue.waitUntilReady();
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  const waiting = new Map();
  sock.on('message', (msg) => {
    const [marker, started] = msg.toString().split(' ');
    const resolve = waiting.get(Number(marker));
    if (resolve) { waiting.delete(Number(marker)); resolve(Number(started)); }
  });
  const dispatch = []; const enqueue = []; let lost = 0;
  const deadline = performance.now() + args.timeout * 1000;
  for (let i = 0; i < args.warmup + args.samples && performance.now() < deadline; i++) {
    const got = new Promise((r) => waiting.set(i, r));
    const before = wallSeconds();
    await queue.add('noop', { probe: [port, i] });
    const returned = wallSeconds();
    const started = await Promise.race([got, sleep(PROBE_WAIT_MS).then(() => null)]);
    if (started === null) { waiting.delete(i); lost++; continue; }
    if (i >= args.warmup) {
      dispatch.push((started - returned) * 1000);
      enqueue.push((returned - before) * 1000);
    }
    await sleep(2 + Math.random() * 6);
  }
  sock.close();
  await queue.close();
  return { dispatch_ms: dispatch, enqueue_ms: enqueue, lost };
}

async function saves(args) {
  const queue = new Queue(args.queue, { connection: args.connection });
  await queue.waitUntilReady();
  for (let i = 0; i < args.warmup; i++) await queue.add('noop', { s: -1 - i });
  const rtt = [];
  const deadline = performance.now() + args.timeout * 1000;
  const start = performance.now();
  for (let i = 0; i < args.n; i++) {
    const before = performance.now();
    await queue.add('noop', { s: i });
    rtt.push(performance.now() - before);
    if (before > deadline) break;
  }
  const total = (performance.now() - start) / 1000;
  const stored = await queue.getWaitingCount();
  await queue.close();
  return { n: args.n, saved: rtt.length, total_s: total, rtt_ms: rtt, stored: stored - args.warmup };
}

const COMMANDS = { throughput, latency, saves };
const args = parse(process.argv.slice(2));
if (args.command === 'worker') {
  await runWorker(args);
} else {
  const result = await COMMANDS[args.command](args);
  console.log(JSON.stringify(result));
  process.exit(0);
}
