// Report build progress: polls the report's JSON status endpoint every 1.5 s, moves the
// <progress> bar and its label, and reloads the page once the report is ready (the server then
// renders it). Without JavaScript a <noscript> meta refresh reloads the page instead.

import { fetchStatus } from "../shared/poll.js";

const INTERVAL_MS = 1500;
const panel = document.querySelector("[data-report-progress]");
// The percentage in the page's language (its <html lang>), as the server would write it.
const percent = new Intl.NumberFormat(document.documentElement.lang || undefined, {
  style: "percent",
});

async function poll() {
  let data;
  try {
    data = await fetchStatus(panel.dataset.statusUrl);
  } catch {
    // A dropped request does not stop the build: ask again a little later.
    window.setTimeout(poll, INTERVAL_MS * 2);
    return;
  }
  const bar = panel.querySelector("progress");
  bar.value = data.progress;
  bar.textContent = percent.format(data.progress);
  if (data.message) panel.querySelector("[data-report-message]").textContent = data.message;
  if (data.ready || data.status === "failed") {
    // The server renders the finished report, or the failure with its "Build again" button.
    window.location.reload();
    return;
  }
  window.setTimeout(poll, INTERVAL_MS);
}

if (panel && panel.dataset.statusUrl) poll();
