// Training form: asks the server how long the run would take whenever a setting changes (and
// once on arrival, so the first figure is written like the later ones).
import { getJSON } from "./dom.js";
import { formatAbout, formatDuration, formatNumber } from "./format.js";

const form = document.getElementById("train-form");
const output = document.getElementById("estimate");
let timer = null;
let asked = 0;

async function refresh() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (!["csrf_token", "name"].includes(name) && value !== "") params.append(name, value);  // not a setting
  }
  const question = ++asked;
  output.setAttribute("aria-busy", "true");
  try {
    const guess = await getJSON(`${form.dataset.estimateUrl}?${params}`);
    if (question !== asked) return;  // a newer question is on its way
    output.classList.remove("error");
    output.textContent = `About ${formatNumber(guess.tokens_per_second)} words per second (${guess.note}): ` +
      `${formatAbout(guess.epoch_seconds)} per epoch, ${formatDuration(guess.total_seconds)} in all.`;
  } catch (error) {
    if (question !== asked) return;
    output.classList.add("error");
    output.textContent = Object.values(error.errors || {}).join(" ") || error.message;
  } finally {
    if (question === asked) output.removeAttribute("aria-busy");
  }
}

if (form && output) {
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
  refresh();
}
