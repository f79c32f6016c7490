// Playground: answers the three forms through the JSON API and draws the answers with DOM nodes
// (textContent only: generated words are text, never markup), plus a bar chart of next words.
// While a question is out, its answer area is aria-busy with a spinner; the page stays usable.
import { clear, el, postJSON } from "./dom.js";
import { formatNumber } from "./format.js";
import { chartColors } from "./charts.js";
import { insideRender } from "./inside.js";
import { markCopies } from "./copies.js";

const root = document.getElementById("playground");
const bitBands = JSON.parse(root.dataset.bitBands);  // webapp.playground.BIT_BANDS
let nextChart = null;

// The colour band of a surprisal in bits: 0 below the first bound, and so on.
function bitBand(bits) {
  return bitBands.filter((bound) => bits >= bound).length;
}

function prefixTokens(result) {
  const tokens = result.prefix_tokens.length
    ? result.prefix_tokens.flatMap((t) => [el("span", { className: result.unknown_words.includes(t) ? "token unknown" : "token", text: t }), " "])
    : [el("em", { text: "(empty prefix: a new sentence)" })];
  const nodes = [el("p", { className: "tokens" }, ["Read as: ", ...tokens])];
  if (result.unknown_words.length) {
    nodes.push(el("p", { className: "warning", text: `Not in the vocabulary (read as UNKNOWN_TOKEN): ${result.unknown_words.join(", ")}` }));
  }
  return nodes;
}

// Which model answered: nothing for the network alone, a line for the mixture.
function answeredBy(result) {
  if (!result.mixture) return [];
  const share = Math.round(result.mixture.rnn_weight * 100);
  return [el("p", { className: "hint mixture-note", text: `Answered by the network mixed with the trigram counter (${share}% network).` })];
}

const render = {
  generate(result) {
    const items = result.samples.map((s) => el("li", {}, [s.text, ...(s.ended ? [] : [" ", el("span", { className: "hint", text: "(cut at max length)" })])]));
    const box = el("div", {}, [el("ol", { className: "samples" }, items)]);
    markCopies(root.dataset.api, result.samples, items, box);  // fills in when it answers
    return [...answeredBy(result), ...prefixTokens(result), box];
  },
  "next-words"(result) {
    drawNextWords(result.candidates);
    const rows = result.candidates.map((c) => el("tr", {}, [el("td", { text: c.word }),
      el("td", { className: "num", text: formatNumber(c.probability, 4) }), el("td", { className: "num", text: formatNumber(c.bits, 2) })]));
    const head = el("thead", {}, [el("tr", {}, [el("th", { text: "Next word" }),
      el("th", { className: "num", text: "Probability" }), el("th", { className: "num", text: "Surprisal (bits)" })])]);
    return [...answeredBy(result), ...prefixTokens(result), el("table", { className: "compact" }, [head, el("tbody", {}, rows)])];
  },
  score(result) {
    const items = result.ranked.map((r) => el("li", {}, [
      el("p", { text: r.text }),
      el("p", { className: "hint", text: `${formatNumber(r.bits, 2)} bits in all, ${formatNumber(r.bits_per_word, 2)} bits per word (perplexity ${formatNumber(r.perplexity, 1)})` }),
      el("p", { className: "surprisal" }, r.surprisal.flatMap((w) => [
        el("span", { className: `token bits-${bitBand(w.bits)}${w.unknown ? " unknown" : ""}`, attrs: { title: `${formatNumber(w.bits, 2)} bits` } },
          [w.word, " ", el("sub", { text: formatNumber(w.bits, 1) })]), " "])),
    ]));
    return [...answeredBy(result), el("ol", { className: "ranked" }, items)];
  },
  ...insideRender,
};

function drawNextWords(candidates) {
  const canvas = document.getElementById("next-chart");
  if (!canvas || !window.Chart) return;
  document.getElementById("next-chart-box").hidden = false;
  const data = { labels: candidates.map((c) => c.word), datasets: [{ label: "probability", data: candidates.map((c) => c.probability), backgroundColor: chartColors.bars }] };
  if (nextChart) {
    nextChart.data = data;
    nextChart.update();
    return;
  }
  nextChart = new window.Chart(canvas, {
    type: "bar",
    data,
    options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } },
  });
}

for (const form of root.querySelectorAll("form[data-question]")) {
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const question = form.dataset.question;
    const output = document.getElementById(`result-${question}`);
    const body = {};
    for (const [name, value] of new FormData(form)) if (name !== "csrf_token") body[name] = value;
    // One question per form at a time. The button is marked, not disabled, so that keyboard
    // focus stays on it.
    if (form.getAttribute("aria-busy") === "true") return;
    const button = form.querySelector("button");
    const spinner = el("span", { className: "spinner", text: "Working…", attrs: { role: "status" } });
    form.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
    button.after(spinner);
    output.setAttribute("aria-busy", "true");
    try {
      const result = await postJSON(`${root.dataset.api}/${question}`, body);
      clear(output);
      output.append(...render[question](result));
    } catch (error) {
      clear(output);
      output.append(el("p", { className: "error-message", text: error.message }));
    } finally {
      output.setAttribute("aria-busy", "false");
      form.setAttribute("aria-busy", "false");
      spinner.remove();
      button.removeAttribute("aria-disabled");
    }
  });
}
