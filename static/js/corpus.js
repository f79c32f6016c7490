// Corpus page: follows preprocessing (bar, percentage, time left) until the report is ready,
// then reloads to show it; draws the sentence-length histogram.
import { getJSON, setState, setText } from "./dom.js";
import { RateEstimate, showProgress } from "./progress.js";
import { chartColors } from "./charts.js";

const live = document.getElementById("corpus-live");
const rate = new RateEstimate();

async function poll() {
  try {
    const corpus = await getJSON(live.dataset.api);
    if (corpus.state !== live.dataset.state && ["ready", "failed"].includes(corpus.state)) {
      window.location.reload();
      return;
    }
    setState(document.getElementById("corpus-state"), corpus.state);
    const fraction = corpus.fraction_done || 0;
    const left = corpus.state === "preprocessing" ? rate.secondsLeft(fraction) : null;
    showProgress({
      bar: document.getElementById("corpus-progress"),
      percent: document.getElementById("corpus-percent"),
      eta: document.getElementById("corpus-eta"),
    }, fraction, left);
    setText("corpus-message", corpus.message || "Waiting for a worker");
  } catch (_) {
    // Try again on the next tick.
  }
  setTimeout(poll, 1000);
}

function drawHistogram() {
  const data = document.getElementById("length-data");
  const canvas = document.getElementById("length-chart");
  if (!data || !canvas || !window.Chart) return;
  const bins = JSON.parse(data.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: bins.map((b) => (b.lo === b.hi ? `${b.lo}` : `${b.lo}–${b.hi}`)),
      datasets: [{ label: "sentences", data: bins.map((b) => b.count), backgroundColor: chartColors.bars }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { x: { title: { display: true, text: "words per sentence" } },
                y: { title: { display: true, text: "sentences" }, beginAtZero: true } },
    },
  });
  document.getElementById("length-table").hidden = true;
}

if (live && ["queued", "preprocessing"].includes(live.dataset.state)) setTimeout(poll, 1000);
drawHistogram();
