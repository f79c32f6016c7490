// Vanishing gradients (job page and the corpus's run comparison): for k = 0 ... 20, the mean
// norm of the loss's gradient with respect to the state k steps back, divided by its value at
// k = 0, on a logarithmic scale: the share of the gradient that reaches k words back.
import { chartColors } from "./charts.js";

// One curve's points: ratios to k = 0, leaving out k without any pair.
export function gradientPoints(norms) {
  const first = norms.mean_norm[0];
  return norms.k.map((k, i) => ({ x: k, y: norms.mean_norm[i] / first }))
    .filter((p) => Number.isFinite(p.y) && p.y > 0);
}

// Log-axis labels at powers of ten only, written 1, 0.1, 0.01, 1e-3 ...
function powerOfTen(value) {
  const exponent = Math.log10(value);
  if (Math.abs(exponent - Math.round(exponent)) > 1e-9) return "";
  return exponent >= -2 ? String(Number(value.toPrecision(1))) : `1e${Math.round(exponent)}`;
}

// curves: [{label, color, norms, dash}]
export function gradientChart(canvas, curves) {
  if (!canvas || !window.Chart) return null;
  const datasets = curves.map((c) => ({
    label: c.label, data: gradientPoints(c.norms), borderColor: c.color, backgroundColor: c.color,
    borderDash: c.dash || [], pointRadius: 2, borderWidth: 2,
  }));
  return new window.Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      parsing: false,
      scales: {
        x: { type: "linear", min: 0, title: { display: true, text: "steps back (k)" } },
        y: { type: "logarithmic", title: { display: true, text: "‖∂L/∂s(t−k)‖ / ‖∂L/∂s(t)‖" },
             ticks: { callback: powerOfTen } },
      },
    },
  });
}

export const gradientColors = { first: chartColors.running, last: chartColors.train };
