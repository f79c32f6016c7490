// Home page: keeps the progress bars, times left and states of unfinished jobs current.
import { FINAL_STATES, getJSON, setState } from "./dom.js";
import { formatMarked, formatNumber } from "./format.js";
import { showProgress } from "./progress.js";

const table = document.getElementById("jobs");

function update(job) {
  const row = table.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`);
  if (!row) return;
  row.dataset.state = job.state;
  setState(row.querySelector(".state"), job.state);
  const queue = row.querySelector(".queue");
  if (queue) queue.textContent = job.queue_position ? `#${job.queue_position} in queue` : "";
  showProgress({ bar: row.querySelector("progress"), eta: row.querySelector(".eta") },
    job.fraction_done, job.state === "training" ? job.eta_seconds : null);
  row.querySelector(".loss").textContent =
    `${formatNumber(job.train_loss, 3)} / ${formatNumber(job.valid_loss, 3)}`;
}

async function poll() {
  const active = [...table.querySelectorAll("tr[data-job-id]")]
    .filter((row) => !FINAL_STATES.includes(row.dataset.state));
  if (!active.length) return;
  try {
    for (const row of active) update(await getJSON(`/api/jobs/${encodeURIComponent(row.dataset.jobId)}`));
  } catch (_) {
    // The server may be restarting; try again on the next tick.
  }
  setTimeout(poll, 2000);
}

formatMarked();
if (table) setTimeout(poll, 1000);
