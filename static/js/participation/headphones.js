// Headphone check page: the volume step first, then the trials (Woods et al. 2017). The right
// answers never reach the browser; the server scores the form.
import { attachPlayer, playerLabels } from "./player.js";

const root = document.querySelector(".headphones");
const msg = root.dataset;
const form = document.getElementById("check-form");
const volumeDone = document.getElementById("volume-done");
const labels = playerLabels(msg, msg.msgPlayed);

// After a refused answer the page comes back with the trials: no need to set the volume again.
if (!form.querySelector(".error")) form.hidden = true;

const players = [];
for (const button of root.querySelectorAll("button.play")) {
  const audio = document.getElementById(button.dataset.audio);
  const player = attachPlayer({
    audio,
    button,
    status: root.querySelector(`[data-status-for="${audio.id}"]`),
    labels,
    onStart: () => players.forEach((other) => other !== player && other.pause()),
    onEnded: () => {
      if (audio.id === "volume-audio" && form.hidden) volumeDone.hidden = false;
    },
  });
  players.push(player);
  if (audio.id === "volume-audio") {
    // The listener may go on once the tone has started; they adjust while it plays.
    audio.addEventListener("play", () => form.hidden && (volumeDone.hidden = false), { once: true });
  }
}

volumeDone.addEventListener("click", () => {
  players.forEach((player) => player.pause());
  form.hidden = false;
  volumeDone.hidden = true;
  document.getElementById("trials-h").focus();
});
