// Corpus page, "Runs on this corpus": every run's validation perplexity by epoch on one chart
// (logarithmic), the trigram counter's lines dashed, each run's colour beside its row of the
// table. Labels are drawn by Chart.js on the canvas, so a run's name is never markup.
import { chartColors, runColor } from "./charts.js";
import { gradientChart } from "./gradients.js";

const data = JSON.parse(document.getElementById("runs-data").textContent);
const canvas = document.getElementById("runs-chart");

function datasets() {
  const lastEpoch = Math.max(1, ...data.runs.map((r) => r.nepoch || 0));
  const runs = data.runs.map((run, i) => ({
    label: run.label,
    data: run.curve.map((p) => ({ x: p.epoch, y: p.valid_perplexity })),
    borderColor: runColor(i),
    backgroundColor: runColor(i),
    pointRadius: 2,
    borderWidth: 2,
  }));
  const trigrams = data.trigram_lines.map((line) => ({
    label: line.label,
    data: [{ x: 0, y: line.perplexity }, { x: lastEpoch, y: line.perplexity }],
    borderColor: chartColors.trigram,
    backgroundColor: chartColors.trigram,
    borderDash: [8, 4],
    pointRadius: 0,
    borderWidth: 2,
  }));
  return [...runs, ...trigrams];
}

for (const swatch of document.querySelectorAll(".swatch[data-run]")) {
  swatch.style.backgroundColor = runColor(Number(swatch.dataset.run));
}

// Vanilla and gated cells side by side: each run's latest curve, gated cells dashed.
const measured = data.runs.map((run, i) => ({ run, i })).filter(({ run }) => run.gradient_norms);
gradientChart(document.getElementById("runs-gradients-chart"), measured.map(({ run, i }) => ({
  label: `${run.label} (${run.cell.toUpperCase()}, epoch ${run.gradient_norms.epoch})`,
  color: runColor(i), norms: run.gradient_norms, dash: run.cell === "rnn" ? [] : [6, 4],
})));

if (canvas && window.Chart) {
  new window.Chart(canvas, {
    type: "line",
    data: { datasets: datasets() },
    options: {
      parsing: false,
      scales: {
        x: { type: "linear", min: 0, title: { display: true, text: "epoch" } },
        y: { type: "logarithmic", title: { display: true, text: "validation perplexity" } },
      },
    },
  });
}
