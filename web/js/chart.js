// Jobs completed per minute over the last hour, drawn on a canvas. It starts from the server's
// history (`stats.history`, every server's counts), read at each sign-in and reconnect and once a
// minute, so a reload does not start it empty; completions seen live are added between reads.
import { setText } from "./dom.js";

const BUCKET_S = 60;
const BUCKETS = 60; // an hour
const RELOAD_MS = 60_000;

export class ThroughputChart {
  #canvas;
  #label;
  #conn;
  #counts = new Map(); // minute number (server time / 60) -> completions
  #frame = 0;
  #loading = null;

  constructor(canvas, label, store, conn) {
    this.#canvas = canvas;
    this.#label = label;
    this.#conn = conn;
    store.addEventListener("completed", (e) => this.record(e.detail?.doc?.updated));
    conn.addEventListener("session", () => this.load());
    setInterval(() => this.redraw(), 1000);
    setInterval(() => this.load(), RELOAD_MS);
    new ResizeObserver(() => this.redraw()).observe(canvas);
    this.redraw();
  }

  /** Replace the counts with the server's history (summed over the types this role may read). */
  async load() {
    const conn = this.#conn;
    if (this.#loading || !conn.may("stats.history")) return;
    const since = Date.now() / 1000 - BUCKETS * BUCKET_S;
    this.#loading = conn.call("stats.history", { resolution: "minute", since });
    let answer;
    try {
      answer = await this.#loading;
    } catch {
      return; // offline or refused: keep what was counted live
    } finally {
      this.#loading = null;
    }
    const counts = new Map();
    for (const series of answer.series) {
      for (const point of series.points) {
        const bucket = Math.floor(point.t / BUCKET_S);
        counts.set(bucket, (counts.get(bucket) || 0) + point.completed);
      }
    }
    this.#counts = counts;
    this.#canvas.closest("figure").dataset.history = "loaded";
    this.redraw();
  }

  /** One completion, at the job's server time (seconds) if known. */
  record(at = Date.now() / 1000) {
    const bucket = Math.floor((at || Date.now() / 1000) / BUCKET_S);
    this.#counts.set(bucket, (this.#counts.get(bucket) || 0) + 1);
    this.redraw();
  }

  redraw() {
    if (!this.#frame) this.#frame = requestAnimationFrame(() => this.#draw());
  }

  /** Completions in each minute, oldest first, ending with the current one. */
  series(now = Date.now() / 1000) {
    const last = Math.floor(now / BUCKET_S);
    for (const bucket of this.#counts.keys()) if (bucket <= last - BUCKETS) this.#counts.delete(bucket);
    const out = [];
    for (let b = last - BUCKETS + 1; b <= last; b++) out.push(this.#counts.get(b) || 0);
    return out;
  }

  #draw() {
    this.#frame = 0;
    const now = Date.now() / 1000;
    const values = this.series(now);
    // The last 60 seconds: the current minute so far plus the rest of the previous one.
    const partial = (now % BUCKET_S) / BUCKET_S;
    const rate = (values[values.length - 1] + values[values.length - 2] * (1 - partial)) / BUCKET_S;
    const peak = Math.max(...values);
    const total = values.reduce((a, v) => a + v, 0);
    setText(this.#label, `${formatRate(rate)}/s`);
    const figure = this.#canvas.closest("figure");
    figure.dataset.total = String(total);
    figure.title = `${total} completed in the last ${BUCKETS} minutes; busiest minute ${peak}`;

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
    ctx.fillText(`${top.toLocaleString()}/min`, 3, 2);
  }
}

function formatRate(v) {
  if (v === 0) return "0";
  if (v < 1) return v.toFixed(2);
  if (v < 10) return v.toFixed(1);
  return Math.round(v).toLocaleString();
}

function niceCeil(v) {
  if (v <= 0) return 0;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
