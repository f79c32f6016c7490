// Training form: asks the server for the time per epoch whenever a setting changes.
import { describeSeconds, formatNumber, getJSON } from "./dom.js";

const form = document.getElementById("train-form");
const output = document.getElementById("estimate");
let timer = null;

async function refresh() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (name !== "csrf_token" && value !== "") params.append(name, value);
  }
  try {
    const guess = await getJSON(`${form.dataset.estimateUrl}?${params}`);
    output.classList.remove("error");
    output.textContent = `About ${formatNumber(guess.tokens_per_second)} words per second: ` +
      `${describeSeconds(guess.epoch_seconds)} per epoch, ${describeSeconds(guess.total_seconds)} in all.`;
  } catch (error) {
    output.classList.add("error");
    output.textContent = Object.values(error.errors || {}).join(" ") || error.message;
  }
}

if (form && output) {
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
}
