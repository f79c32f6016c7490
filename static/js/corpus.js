// Corpus page: follows preprocessing until the report is ready, and draws the length histogram.
import { getJSON, setState } from "./dom.js";

const live = document.getElementById("corpus-live");

async function poll() {
  try {
    const corpus = await getJSON(live.dataset.api);
    if (corpus.state !== live.dataset.state && ["ready", "failed"].includes(corpus.state)) {
      window.location.reload();
      return;
    }
    setState(document.getElementById("corpus-state"), corpus.state);
    const bar = document.getElementById("corpus-progress");
    if (bar) bar.value = corpus.fraction_done || 0;
    const message = document.getElementById("corpus-message");
    if (message) message.textContent = corpus.message || "Waiting for a worker";
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
      datasets: [{ label: "sentences", data: bins.map((b) => b.count), backgroundColor: "#4f7cac" }],
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
