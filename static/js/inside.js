// Playground, "Inside the network": the hidden state after each word drawn as a heatmap on a
// canvas (a row per unit, a column per word), a unit picker that colours the sentence by that
// unit's activation (click a row of the heatmap, or use the slider), and the nearest words by
// the cosine of their input embeddings (click a word of the coloured sentence to ask). Words
// reach the page through textContent and the canvas's fillText only, never as markup.
import { el } from "./dom.js";
import { formatNumber } from "./format.js";

const BANDS = 10; // webapp.playground.ACTIVATION_BANDS: the CSS classes .act-0 ... .act-10
const LEFT = 44; // room for the unit numbers
const TOP = 118; // room for the words, written upwards

export function activationBand(value) {
  return Math.min(BANDS, Math.max(0, Math.floor(((value + 1) * BANDS) / 2 + 0.5)));
}

// The band colours live in the CSS; the legend's swatches carry them.
function bandColors() {
  return [...document.querySelectorAll("#activation-legend .swatch")].map((s) => getComputedStyle(s).backgroundColor);
}

function shortWord(word) {
  return word.length > 14 ? `${word.slice(0, 13)}…` : word;
}

function drawHeatmap(canvas, result, unit) {
  const colors = bandColors();
  const words = result.tokens.length;
  const units = result.hidden_dim;
  const cellW = Math.max(16, Math.min(44, Math.floor(720 / words)));
  const cellH = Math.max(3, Math.min(18, Math.floor(360 / units)));
  const width = LEFT + words * cellW + 4;
  const height = TOP + units * cellH + 4;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  result.states.forEach((state, t) => {
    state.forEach((value, u) => {
      ctx.fillStyle = colors[activationBand(value)];
      ctx.fillRect(LEFT + t * cellW, TOP + u * cellH, cellW, cellH);
    });
  });
  ctx.fillStyle = "#1d2733";
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "left";
  result.tokens.forEach((word, t) => {
    ctx.save();
    ctx.translate(LEFT + t * cellW + cellW / 2 + 4, TOP - 6);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(shortWord(word), 0, 0);
    ctx.restore();
  });
  ctx.textAlign = "right";
  const step = Math.max(1, Math.ceil(14 / cellH));
  for (let u = 0; u < units; u += step) ctx.fillText(String(u), LEFT - 6, TOP + u * cellH + cellH / 2 + 4);
  ctx.strokeStyle = "#1d2733";
  ctx.lineWidth = 2;
  ctx.strokeRect(LEFT - 1, TOP + unit * cellH - 1, words * cellW + 2, cellH + 2);
  return { cellH };
}

// The unit whose activation changes most over the sentence: the most telling one to start with.
function liveliestUnit(result) {
  let best = 0;
  let bestSpread = -1;
  for (let u = 0; u < result.hidden_dim; u += 1) {
    const values = result.states.map((s) => s[u]);
    const spread = Math.max(...values) - Math.min(...values);
    if (spread > bestSpread) [best, bestSpread] = [u, spread];
  }
  return best;
}

function askNearest(word) {
  const form = document.getElementById("nearest-form");
  form.querySelector("input[name=word]").value = word;
  form.requestSubmit();
}

function hiddenStates(result) {
  const units = result.hidden_dim;
  const canvas = el("canvas", { attrs: { id: "heatmap", role: "img",
    "aria-label": `The hidden state, ${units} units by ${result.tokens.length} words; blue is −1, white 0, red +1` } });
  const range = el("input", { attrs: { type: "range", id: "unit-range", min: "0", max: String(units - 1), step: "1" } });
  const number = el("output", { attrs: { id: "unit-number", for: "unit-range" } });
  const text = el("p", { className: "unit-text", attrs: { id: "unit-text" } });
  const chips = result.tokens.map((word) => {
    const chip = el("button", { className: "token", text: word, attrs: { type: "button" } });
    if (word !== "SENTENCE_START") chip.addEventListener("click", () => askNearest(word));
    return chip;
  });
  text.append(...chips.flatMap((chip) => [chip, " "]));
  let layout = null;
  function select(unit) {
    range.value = String(unit);
    number.textContent = `unit ${unit} of ${units}`;
    layout = drawHeatmap(canvas, result, unit);
    chips.forEach((chip, t) => {
      const value = result.states[t][unit];
      chip.className = `token act-${activationBand(value)}`;
      chip.title = `unit ${unit}: ${formatNumber(value, 3)}; click for its nearest words`;
    });
  }
  range.addEventListener("input", () => select(Number(range.value)));
  canvas.addEventListener("click", (click) => {
    const y = click.clientY - canvas.getBoundingClientRect().top;
    const unit = Math.floor((y - TOP) / layout.cellH);
    if (unit >= 0 && unit < units) select(unit);
  });
  select(liveliestUnit(result));
  const picker = el("div", { className: "unit-picker" }, [el("label", { text: "Colour the sentence by unit", attrs: { for: "unit-range" } }), range, number]);
  const hint = el("p", { className: "hint", text: `${result.cell.toUpperCase()} cell, ${units} units: each column is the hidden state after a word, each row one unit (click a row to pick it); blue is −1, white 0, red +1. Click a word for its nearest words.` });
  return [hint, el("div", { className: "heatmap-box" }, [canvas]), picker, text];
}

function nearestWords(result) {
  const rows = result.neighbours.map((n) => el("tr", {}, [el("td", { text: n.word }), el("td", { className: "num", text: formatNumber(n.cosine, 3) })]));
  const head = el("thead", {}, [el("tr", {}, [el("th", { text: "Word" }), el("th", { className: "num", text: "Cosine" })])]);
  const caption = el("caption", { text: `Nearest to “${result.word}” by the cosine of their columns of U` });
  return [el("table", { className: "compact", attrs: { id: "nearest-table" } }, [caption, head, el("tbody", {}, rows)])];
}

export const insideRender = { "hidden-states": hiddenStates, "nearest-words": nearestWords };
