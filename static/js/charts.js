// Chart.js settings shared by every chart: the page's font, text dark enough to read (WCAG AA on
// white), no animation (the job page redraws about once a second), and the site's colours.
export const chartColors = {
  bars: "#4f7cac",
  running: "#8aa4c0",
  train: "#1f5a99",
  valid: "#c0392b",
  halving: "#9a5000",
  trigram: "#2e7d32",
  unigram: "#6b6b6b",
  best: "#7b1fa2",
};

// One colour per run when runs are compared (distinct, and 3:1 or more against white).
const RUN_COLORS = ["#1f5a99", "#c0392b", "#7b1fa2", "#9a5000", "#00796b", "#ad1457", "#455a64",
  "#5d4037", "#283593", "#827717"];

export function runColor(i) {
  return RUN_COLORS[i % RUN_COLORS.length];
}

if (window.Chart) {
  const defaults = window.Chart.defaults;
  defaults.color = "#3b4754";
  defaults.font.family = getComputedStyle(document.body).fontFamily;
  defaults.font.size = 13;
  defaults.animation = false;
  defaults.maintainAspectRatio = false;
}
