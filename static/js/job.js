// Job page: polls the job about once a second, draws the loss curve with the learning-rate
// halvings, the counting models' lines and the best evaluation marked, says how the model
// compares with the trigram counter, lists the samples of each evaluation, and cancels.
import { el, FINAL_STATES, getJSON, postJSON, setState, setText } from "./dom.js";
import { formatNumber } from "./format.js";
import { RateEstimate, showProgress } from "./progress.js";
import { chartColors } from "./charts.js";
import { Timeline } from "./timeline.js";
import { gradientChart, gradientColors } from "./gradients.js";

const root = document.getElementById("job");
let job = JSON.parse(document.getElementById("job-data").textContent);
let lastEvent = 0;
const halvings = [];
const series = { running: [], train: [], valid: [], trigram: [], unigram: [], best: [] };
let chart = null;
const preprocessingRate = new RateEstimate();
const timeline = new Timeline((job.timeline || {}).prefixes);
const gradientEvaluations = [];
let gradients = null;
let gradientsDrawn = 0;

// The first evaluation's curve and the latest one's, redrawn when a new evaluation brings one.
function showGradients() {
  if (gradientEvaluations.length === gradientsDrawn) return;
  gradientsDrawn = gradientEvaluations.length;
  const first = gradientEvaluations[0];
  const last = gradientEvaluations[gradientEvaluations.length - 1];
  const curves = [{ label: `epoch ${first.epoch} (first evaluation)`, color: gradientColors.first, norms: first.gradient_norms, dash: [6, 4] }];
  if (last !== first) curves.push({ label: `epoch ${last.epoch} (latest)`, color: gradientColors.last, norms: last.gradient_norms });
  document.getElementById("gradients").hidden = false;
  if (gradients) gradients.destroy();
  gradients = gradientChart(document.getElementById("gradients-chart"), curves);
}

function epochOf(event) {
  return (event.fraction_done || 0) * (job.nepoch || 1);
}

// Chart.js has no vertical-line marker without a plugin; this draws one per halving.
const halvingLines = {
  id: "halvingLines",
  afterDatasetsDraw(c) {
    const { ctx, chartArea, scales } = c;
    ctx.save();
    ctx.strokeStyle = chartColors.halving;
    ctx.setLineDash([5, 4]);
    for (const x of halvings) {
      const px = scales.x.getPixelForValue(x);
      ctx.beginPath();
      ctx.moveTo(px, chartArea.top);
      ctx.lineTo(px, chartArea.bottom);
      ctx.stroke();
    }
    ctx.restore();
  },
};

function makeChart() {
  const canvas = document.getElementById("loss-chart");
  if (!canvas || !window.Chart) return null;
  return new window.Chart(canvas, {
    type: "line",
    data: {
      datasets: [
        { label: "training (running, this epoch)", data: series.running, borderColor: chartColors.running, backgroundColor: chartColors.running, pointRadius: 0, borderWidth: 1 },
        { label: "training", data: series.train, borderColor: chartColors.train, backgroundColor: chartColors.train, pointRadius: 3 },
        { label: "validation", data: series.valid, borderColor: chartColors.valid, backgroundColor: chartColors.valid, pointRadius: 3 },
        { label: "trigram counter (validation)", data: series.trigram, borderColor: chartColors.trigram, backgroundColor: chartColors.trigram, pointRadius: 0, borderDash: [8, 4], borderWidth: 2 },
        { label: "unigram counter (validation)", data: series.unigram, borderColor: chartColors.unigram, backgroundColor: chartColors.unigram, pointRadius: 0, borderDash: [2, 3], borderWidth: 2 },
        { label: "best evaluation (the model)", data: series.best, borderColor: chartColors.best, backgroundColor: chartColors.best, pointStyle: "star", pointRadius: 10, pointBorderWidth: 2, showLine: false, clip: false },
      ],
    },
    options: {
      parsing: false,
      scales: { x: { type: "linear", min: 0, max: job.nepoch || undefined, title: { display: true, text: "epoch" } },
                y: { title: { display: true, text: "loss per word" } } },
    },
    plugins: [halvingLines],
  });
}

function addSamples(event) {
  const list = document.getElementById("samples");
  const items = el("ul", {}, event.samples.map((s) => el("li", { text: s })));
  list.prepend(el("li", {}, [el("span", { className: "epoch", text: `epoch ${event.epoch}` }), items]));
}

function addEvents(events, initial) {
  for (const event of events) {
    lastEvent = Math.max(lastEvent, event.id);
    const x = epochOf(event);
    if (event.event === "batch" && event.train_loss !== null) series.running.push({ x, y: event.train_loss });
    if (event.event === "evaluation") {
      if (event.train_loss !== null) series.train.push({ x, y: event.train_loss });
      if (event.valid_loss !== null) series.valid.push({ x, y: event.valid_loss });
      if (!initial && event.samples.length) addSamples(event);
      if (event.samples.length) timeline.add(event);
    }
    if (event.event === "lr_halved") halvings.push(x);
    if (event.event === "evaluation" && event.gradient_norms) gradientEvaluations.push(event);
  }
  if (chart) chart.update();
  showGradients();
}

// The counting models' validation perplexities as flat lines in loss units (ln perplexity).
function showBaselines() {
  const width = job.nepoch || 1;
  for (const name of ["trigram", "unigram"]) {
    const perplexity = (job.baselines || {})[`${name}_perplexity`];
    series[name].length = 0;
    if (perplexity) series[name].push({ x: 0, y: Math.log(perplexity) }, { x: width, y: Math.log(perplexity) });
  }
  series.best.length = 0;
  if (job.best) series.best.push({ x: job.best.epoch, y: job.best.valid_loss });
  if (chart) chart.update();
}

function show(data) {
  job = data;
  timeline.setPrefixes((job.timeline || {}).prefixes);
  showBaselines();
  setText("job-comparison", job.comparison);
  setState(document.getElementById("job-state"), job.state);
  setText("job-queue", job.queue_position ? `number ${job.queue_position} in the queue` : "");
  setText("job-message", job.message);
  let left = null;
  if (job.state === "training") left = job.eta_seconds;
  else if (job.state === "preprocessing") left = preprocessingRate.secondsLeft(job.fraction_done || 0);
  showProgress({
    bar: document.getElementById("job-progress"),
    percent: document.getElementById("job-percent"),
    eta: document.getElementById("job-eta"),
  }, job.fraction_done, left);
  setText("job-epoch", `${job.epoch} / ${job.nepoch}`);
  setText("job-speed", formatNumber(job.tokens_per_second));
  setText("job-train-loss", formatNumber(job.train_loss, 4));
  setText("job-valid-loss", formatNumber(job.valid_loss, 4));
  setText("job-perplexity", formatNumber(job.valid_perplexity, 1));
  setText("job-lr", job.learning_rate === null ? "–" : String(job.learning_rate));
  const queue = `${job.queue || "cpu"} queue`;
  setText("job-worker", job.worker_host ? `${job.worker_host}, ${queue}` : `not taken yet (${queue})`);
  if (job.cancel_requested && !FINAL_STATES.includes(job.state)) setText("job-message", "Stopping…");
  const error = document.getElementById("job-error");
  error.hidden = !job.error;
  error.textContent = job.error || "";
  const cancelForm = document.getElementById("cancel-form");  // absent for other browsers
  if (cancelForm) cancelForm.hidden = FINAL_STATES.includes(job.state) || job.cancel_requested;
  // Cancelled and failed jobs keep a model too (their best checkpoint).
  if (FINAL_STATES.includes(job.state) && job.model_id) {
    document.getElementById("job-model-link").href = `/models/${encodeURIComponent(job.model_id)}`;
    document.getElementById("job-model").hidden = false;
  }
  if (job.can_continue) document.getElementById("continue-form").hidden = false;
}

async function poll() {
  try {
    const data = await getJSON(`${root.dataset.api}?since=${lastEvent}`);
    addEvents(data.history || [], false);
    show(data);
    if (FINAL_STATES.includes(data.state)) return;
  } catch (_) {
    // The server may be restarting; keep trying.
  }
  setTimeout(poll, 1000);
}

document.getElementById("cancel-form")?.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  try {
    show(await postJSON(root.dataset.cancelApi));
  } catch (error) {
    const box = document.getElementById("job-error");
    box.hidden = false;
    box.textContent = error.message;
  }
});

chart = makeChart();
addEvents(job.history || [], true);
show(job);
if (!FINAL_STATES.includes(job.state)) setTimeout(poll, 1000);
