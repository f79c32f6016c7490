// Job page, "Learning timeline": one evaluation's samples at a time, picked with a slider (or
// played through), each prompt in bold, so the same sentences can be watched improving. New
// evaluations join as the job trains; a slider left at the newest follows them. Text goes in
// through textContent only.
import { clear, el } from "./dom.js";
import { formatNumber } from "./format.js";

const PLAY_STEP_MS = 700;

export class Timeline {
  constructor(prefixes) {
    this.prefixes = prefixes || [];
    this.evaluations = [];
    this.box = document.getElementById("timeline");
    this.range = document.getElementById("timeline-range");
    this.label = document.getElementById("timeline-epoch");
    this.list = document.getElementById("timeline-samples");
    this.play = document.getElementById("timeline-play");
    this.timer = null;
    this.range.addEventListener("input", () => this.show(Number(this.range.value)));
    this.play.addEventListener("click", () => (this.timer ? this.stop() : this.start()));
  }

  setPrefixes(prefixes) {
    if (!prefixes || prefixes.length === this.prefixes.length) return;
    this.prefixes = prefixes;
    this.show(Number(this.range.value));
  }

  add(event) {
    const following = Number(this.range.value) >= this.evaluations.length - 1;
    this.evaluations.push(event);
    this.range.max = String(this.evaluations.length - 1);
    this.box.hidden = false;
    document.getElementById("timeline-empty").hidden = true;
    if (following && !this.timer) this.show(this.evaluations.length - 1);
  }

  sample(text, i) {
    const prefix = this.prefixes[i] || "";
    if (!prefix || !text.startsWith(prefix)) return el("li", { text });
    return el("li", {}, [el("strong", { className: "prompt", text: prefix }), text.slice(prefix.length)]);
  }

  show(i) {
    const event = this.evaluations[i];
    if (!event) return;
    this.range.value = String(i);
    const perplexity = event.valid_perplexity ? `, validation perplexity ${formatNumber(event.valid_perplexity, 1)}` : "";
    this.label.textContent = `epoch ${event.epoch} (evaluation ${i + 1} of ${this.evaluations.length})${perplexity}`;
    this.range.setAttribute("aria-valuetext", `epoch ${event.epoch}`);
    clear(this.list);
    this.list.append(...event.samples.map((text, n) => this.sample(text, n)));
  }

  start() {
    if (Number(this.range.value) >= this.evaluations.length - 1) this.show(0);
    this.play.textContent = "Pause";
    this.timer = setInterval(() => {
      const next = Number(this.range.value) + 1;
      if (next >= this.evaluations.length) this.stop();
      else this.show(next);
    }, PLAY_STEP_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.play.textContent = "Play";
  }
}
