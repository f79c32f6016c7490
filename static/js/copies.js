// Playground, "Continue a sentence": after the samples arrive, asks which of them copy the
// corpus (the longest run of words each shares with it, from the index made at preprocessing)
// and marks that run in the sample and in the corpus sentence it comes from. Text goes in
// through textContent only.
import { el, postJSON } from "./dom.js";
import { formatNumber } from "./format.js";

// [before, shared, after] of a text, the shared run marked; the text unmarked without parts.
function marked(parts, text) {
  if (!parts) return [text];
  const [before, shared, after] = parts;
  return [before, el("mark", { text: shared }), after];
}

function describe(run, minWords) {
  if (!run) return el("p", { className: "hint copied", text: `No run of ${minWords} words or more is in the corpus.` });
  return el("p", { className: "copied" }, [
    `Shares ${run.length} words in a row with sentence ${formatNumber(run.sentence_number)} of the corpus: “`,
    ...marked(run.sentence_parts, run.sentence), "”"]);
}

export async function markCopies(api, samples, items, output) {
  let answer;
  try {
    answer = await postJSON(`${api}/memorised`, { texts: samples.map((s) => s.text) });
  } catch (error) {
    output.append(el("p", { className: "hint", text: `The samples could not be checked for copying: ${error.message}` }));
    return;
  }
  if (!answer.checked) {
    output.append(el("p", { className: "hint", text: answer.why_not, attrs: { id: "copy-check-off" } }));
    return;
  }
  answer.results.forEach((result, i) => {
    const item = items[i];
    if (result.run && result.run.text_parts) item.firstChild.replaceWith(...marked(result.run.text_parts));
    item.append(describe(result.run, answer.min_words));
  });
}
