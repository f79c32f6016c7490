// Numbers, shares and durations written for people, the same way on every page: thousands
// separators in the page's language, durations as "3 min 20 s". Every page script formats
// through these; nothing else does.

const LOCALE = document.documentElement.lang || undefined;

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
  return Number(value).toLocaleString(LOCALE, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatPercent(fraction, digits = 1) {
  return `${formatNumber(100 * (fraction || 0), digits)}%`;
}

// Two units at most, the larger first: "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h".
// Seconds are dropped past ten minutes, where they are noise in an estimate.
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "";
  const total = Math.round(Number(seconds));
  if (total < 1) return "under 1 s";
  if (total < 60) return `${total} s`;
  const pair = (big, bigUnit, small, smallUnit) => (small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`);
  if (total < 600) return pair(Math.floor(total / 60), "min", total % 60, "s");
  const minutes = Math.round(total / 60);
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 2880) return pair(Math.floor(minutes / 60), "h", minutes % 60, "min");
  const hours = Math.round(minutes / 60);
  return pair(Math.floor(hours / 24), "d", hours % 24, "h");
}

// A duration that is an estimate: "about 3 min 20 s", but "under 1 s" as it is.
export function formatAbout(seconds) {
  const text = formatDuration(seconds);
  return text && text !== "under 1 s" ? `about ${text}` : text;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["bytes", "kB", "MB", "GB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${formatNumber(value, unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

// Server-rendered figures carry their raw value (data-seconds, data-seconds-left, data-number); writing them again
// here keeps the page's first view and its later updates in one style.
export function formatMarked(root = document) {
  for (const node of root.querySelectorAll("[data-seconds]")) {
    node.textContent = formatDuration(node.dataset.seconds);
  }
  for (const node of root.querySelectorAll("[data-seconds-left]")) {
    const text = formatAbout(node.dataset.secondsLeft);
    node.textContent = text ? `${text} left` : "";
  }
  for (const node of root.querySelectorAll("[data-number]")) {
    node.textContent = formatNumber(node.dataset.number, Number(node.dataset.digits || 0));
  }
}
