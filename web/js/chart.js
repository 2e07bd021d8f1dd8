// Jobs completed per second over the last minutes: counted as they happen, drawn on a canvas.
import { setText } from "./dom.js";

const BUCKET_MS = 2000;
const BUCKETS = 90; // three minutes
const RECENT_MS = 10_000;

export class ThroughputChart {
  #canvas;
  #label;
  #counts = new Map(); // bucket number -> completions
  #frame = 0;

  constructor(canvas, label, store) {
    this.#canvas = canvas;
    this.#label = label;
    store.addEventListener("completed", () => this.record());
    setInterval(() => this.redraw(), 1000);
    new ResizeObserver(() => this.redraw()).observe(canvas);
    this.redraw();
  }

  record(at = Date.now()) {
    const bucket = Math.floor(at / BUCKET_MS);
    this.#counts.set(bucket, (this.#counts.get(bucket) || 0) + 1);
    this.redraw();
  }

  redraw() {
    if (!this.#frame) this.#frame = requestAnimationFrame(() => this.#draw());
  }

  /** Completions per second in each bucket, oldest first, ending with the current one. */
  series(now = Date.now()) {
    const last = Math.floor(now / BUCKET_MS);
    for (const bucket of this.#counts.keys()) if (bucket <= last - BUCKETS) this.#counts.delete(bucket);
    const out = [];
    for (let b = last - BUCKETS + 1; b <= last; b++) out.push((this.#counts.get(b) || 0) / (BUCKET_MS / 1000));
    return out;
  }

  #draw() {
    this.#frame = 0;
    const now = Date.now();
    const values = this.series(now);
    const recentBuckets = RECENT_MS / BUCKET_MS;
    // The current bucket is still filling: rate over the finished ones plus the partial one.
    const partial = (now % BUCKET_MS) / BUCKET_MS;
    const recentCount = values.slice(-recentBuckets).reduce((a, v) => a + v * (BUCKET_MS / 1000), 0);
    const rate = recentCount / ((recentBuckets - 1 + partial) * (BUCKET_MS / 1000));
    const peak = Math.max(...values);
    const total = values.reduce((a, v) => a + v * (BUCKET_MS / 1000), 0);
    setText(this.#label, `${formatRate(rate)}/s`);
    this.#label.title = `${total} completed in the last ${(BUCKETS * BUCKET_MS) / 60000} minutes; peak ${formatRate(peak)}/s`;

    const canvas = this.#canvas;
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(canvas);
    const bar = style.getPropertyValue("--bar").trim() || "#16a34a";
    const grid = style.getPropertyValue("--grid").trim() || "#e5e7eb";
    const top = Math.max(1, niceCeil(peak));
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, height - 0.5);
    ctx.lineTo(width, height - 0.5);
    ctx.moveTo(0, 0.5);
    ctx.lineTo(width, 0.5);
    ctx.stroke();
    const step = width / values.length;
    ctx.fillStyle = bar;
    values.forEach((v, i) => {
      if (!v) return;
      const h = Math.max(1, (v / top) * (height - 2));
      ctx.fillRect(i * step + 0.5, height - h, Math.max(1, step - 1), h);
    });
    ctx.fillStyle = style.color;
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.fillText(`${formatRate(top)}/s`, 3, 2);
  }
}

function formatRate(v) {
  if (v === 0) return "0";
  if (v < 10) return v.toFixed(1);
  return Math.round(v).toLocaleString();
}

function niceCeil(v) {
  if (v <= 0) return 0;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
