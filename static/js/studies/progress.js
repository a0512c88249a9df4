// Live synthesis progress: polls the study's JSON status endpoint (study_progress) every
// 1.5 s while clips are pending or running, and updates the counts, the progress bar, the
// failures, the synthesis alerts (stalled, a worker died) and the status badge. On a panel
// marked data-reload-when-done the page reloads once when the last clip finishes, so the clip
// table shows the new audio.

import { fetchStatus } from "../shared/poll.js";

const INTERVAL_MS = 1500;
const panel = document.querySelector("[data-progress]");

function setText(selector, value) {
  for (const node of document.querySelectorAll(selector)) node.textContent = String(value);
}

function render(data) {
  for (const [name, value] of Object.entries(data.clips)) setText(`[data-count="${name}"]`, value);
  setText('[data-count="ratings"]', data.ratings);
  setText('[data-count="ratings_target"]', data.ratings_target);
  setText('[data-count="playlists_completed"]', data.playlists.completed);
  const bar = panel.querySelector("[data-progress-bar]");
  if (bar) {
    bar.max = Math.max(data.clips.total, 1);
    bar.value = data.clips.ready;
  }
  for (const badge of document.querySelectorAll("[data-study-status]")) {
    badge.textContent = data.status_display;
    badge.className = `status status-${data.status}`;
  }
  const box = panel.querySelector("[data-failures]");
  const list = panel.querySelector("[data-failure-list]");
  if (box && list) {
    list.replaceChildren(
      ...data.failures.map((f) => {
        const item = document.createElement("li");
        const where = document.createElement("strong");
        where.textContent = `${f.system__name} / ${f.sentence__key}`;
        item.append(where, `: ${f.error}`);
        return item;
      }),
    );
    box.hidden = data.failures.length === 0;
  }
  // Why synthesis is not moving (a dead worker, no worker at all), in the server's words.
  const alerts = document.querySelector("[data-synthesis-alerts]");
  const alertList = document.querySelector("[data-synthesis-alert-list]");
  if (alerts && alertList && data.synthesis) {
    alertList.replaceChildren(
      ...data.synthesis.alerts.map((text) => {
        const item = document.createElement("li");
        item.textContent = text;
        return item;
      }),
    );
    alerts.hidden = data.synthesis.alerts.length === 0;
  }
}

function busy(data) {
  return data.clips.pending + data.clips.running > 0 || data.status === "synthesizing";
}

async function poll(wasBusy) {
  let data;
  try {
    data = await fetchStatus(panel.dataset.statusUrl);
  } catch {
    // A dropped request is not the end of synthesis: try again later.
    window.setTimeout(() => poll(wasBusy), INTERVAL_MS * 2);
    return;
  }
  render(data);
  const nowBusy = busy(data);
  if (wasBusy && !nowBusy && "reloadWhenDone" in panel.dataset) {
    window.location.reload();
    return;
  }
  if (nowBusy) window.setTimeout(() => poll(true), INTERVAL_MS);
}

// Start from what the page showed: if it was rendered while clips were still being made, a
// finish between rendering and the first poll must still reload it.
if (panel && panel.dataset.statusUrl) poll(panel.dataset.busy === "1");
