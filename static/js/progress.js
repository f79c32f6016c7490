// Progress for long work (preprocessing, training): the bar, its percentage and the time left.
// When the server gives no estimate (preprocessing), the time left comes from the speed seen so
// far on this page.
import { formatAbout, formatPercent } from "./format.js";

export class RateEstimate {
  constructor() {
    this.start = null;
  }

  // Seconds left at ``fraction`` done, from the first fraction this page saw; null until it moved.
  secondsLeft(fraction, now = performance.now()) {
    if (this.start === null || fraction < this.start.fraction) {
      this.start = { fraction, time: now };
      return null;
    }
    const done = fraction - this.start.fraction;
    if (done <= 0 || fraction >= 1) return null;
    return ((now - this.start.time) / 1000) * ((1 - fraction) / done);
  }
}

// ``parts``: { bar, percent, eta } elements (any may be missing). ``secondsLeft`` null: no ETA.
export function showProgress(parts, fraction, secondsLeft) {
  const value = Math.min(1, Math.max(0, fraction || 0));
  if (parts.bar) {
    parts.bar.value = value;
    parts.bar.textContent = formatPercent(value, 0);
  }
  if (parts.percent) parts.percent.textContent = formatPercent(value);
  if (parts.eta) {
    parts.eta.textContent = secondsLeft === null || secondsLeft === undefined
      ? "" : `${formatAbout(secondsLeft)} left`;
  }
}
