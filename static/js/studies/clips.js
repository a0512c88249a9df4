// The clip table's "Play" links play in one shared <audio> element instead of leaving the
// page (a plain link still works without JavaScript). Pressing Play on the clip that is
// playing pauses it.

const player = document.querySelector("[data-player]");
const status = document.querySelector("[data-player-status]");
let current = null;

function label(link) {
  return link.textContent.replace(/\s+/g, " ").trim();
}

for (const link of document.querySelectorAll("a[data-play]")) {
  link.setAttribute("role", "button");
  link.addEventListener("click", (event) => {
    event.preventDefault();
    if (!player) return;
    if (current === link && !player.paused) {
      player.pause();
      return;
    }
    current = link;
    player.hidden = false;
    player.src = link.dataset.play;
    player.play().catch(() => {
      if (status) status.textContent = "The browser did not start playback; use the player controls.";
    });
    if (status) status.textContent = `Playing ${label(link)}`;
  });
}

if (player) {
  player.addEventListener("error", () => {
    if (status) status.textContent = "This clip could not be played.";
  });
}
