// Corpus page: follows preprocessing (bar, percentage, time left, what it waits for) until the
// report is ready, then reloads to show it; shows the first rows as the ticked choices would
// tokenize them (the page holds all eight combinations, so no request is needed).
import { getJSON, setState, setText } from "./dom.js";
import { RateEstimate, showProgress } from "./progress.js";

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
    if (corpus.message) setText("corpus-message", corpus.message);
    const hint = document.getElementById("corpus-hint");
    if (hint && hint.dataset[corpus.state]) hint.textContent = hint.dataset[corpus.state];
  } catch (_) {
    // Try again on the next tick.
  }
  setTimeout(poll, 1000);
}

const MARKERS = new Set(["SENTENCE_START", "SENTENCE_END", "UNKNOWN_TOKEN"]);
const CHOICES = ["one_sentence_per_row", "pretokenized", "lowercase"];

function showTokenized() {
  const data = document.getElementById("tokenized-data");
  const list = document.getElementById("tokenized-rows");
  if (!data || !list) return;
  const combos = JSON.parse(data.textContent);
  const boxes = CHOICES.map((name) => document.getElementById(name));
  const render = () => {
    const key = boxes.map((box) => (box && box.checked ? "1" : "0")).join("-");
    list.replaceChildren(...(combos[key] || []).map((row) => {
      const item = document.createElement("li");
      for (const sentence of row) {
        const line = document.createElement("span");
        line.className = "sentence";
        for (const token of sentence) {
          const tok = document.createElement("span");
          tok.className = MARKERS.has(token) ? "tok marker" : "tok";
          tok.textContent = token;
          line.append(tok, " ");
        }
        item.append(line);
      }
      return item;
    }));
  };
  boxes.forEach((box) => box && box.addEventListener("change", render));
}

if (live && ["queued", "preprocessing"].includes(live.dataset.state)) setTimeout(poll, 1000);
showTokenized();
