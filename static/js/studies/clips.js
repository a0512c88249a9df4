// The clip table's "Play" links play in one shared <audio> element instead of leaving the
// page (a plain link still works without JavaScript). The player sits in a bar that sticks to
// the top of the window, so it stays in view however far down the table the row is; the row
// that is loaded is marked (aria-current, highlighted) and its button reads "Pause" while it
// plays. Pressing it again pauses; another row's Play switches clips. The words come from the
// template (data-text-*), translated there; {clip} in them is the row's system / sentence.

import { fill } from "../shared/text.js";

const bar = document.querySelector("[data-player-bar]");
const player = document.querySelector("[data-player]");
const status = document.querySelector("[data-player-status]");
const text = bar ? bar.dataset : {};
let current = null;

function say(message) {
  if (status) status.textContent = message;
}

function setLabel(link, word) {
  const label = link.querySelector("[data-play-label]");
  if (label) label.textContent = word;
}

function mark(link) {
  if (current && current !== link) {
    setLabel(current, text.textPlay);
    const row = current.closest("tr");
    if (row) {
      row.classList.remove("is-playing");
      row.removeAttribute("aria-current");
    }
  }
  current = link;
  const row = link.closest("tr");
  if (row) {
    row.classList.add("is-playing");
    row.setAttribute("aria-current", "true");
  }
}

for (const link of document.querySelectorAll("a[data-play]")) {
  link.setAttribute("role", "button");
  link.addEventListener("click", (event) => {
    event.preventDefault();
    if (!player) return;
    if (current === link) {
      if (player.paused) player.play().catch(() => say(text.textBlocked));
      else player.pause();
      return;
    }
    mark(link);
    if (bar) bar.hidden = false;
    player.src = link.dataset.play;
    player.play().catch(() => say(text.textBlocked));
  });
}

if (player) {
  const name = () => (current ? current.dataset.clipName : "");
  player.addEventListener("play", () => {
    if (!current) return;
    setLabel(current, text.textPause);
    say(fill(text.textPlaying, { clip: name() }));
  });
  player.addEventListener("pause", () => {
    if (!current) return;
    setLabel(current, text.textPlay);
    if (!player.ended) say(fill(text.textPaused, { clip: name() }));
  });
  player.addEventListener("ended", () => {
    if (current) say(fill(text.textEnded, { clip: name() }));
  });
  player.addEventListener("error", () => {
    if (current) setLabel(current, text.textPlay);
    say(text.textFailed);
  });
}
