// Headphone check page: the volume step first, then the trials (Woods et al. 2017). The right
// answers never reach the browser; the server scores the form. Each step is saved on the
// server as it happens (volume set, each answer), so a reload comes back to the same step with
// the answers kept; a sound's answers unlock once it has been played.
import { attachPlayer, playerLabels } from "./player.js";

const root = document.querySelector(".headphones");
const msg = root.dataset;
const form = document.getElementById("check-form");
const volumeStep = document.getElementById("volume-step");
const volumeDone = document.getElementById("volume-done");
const labels = playerLabels(msg, msg.msgPlayed);
const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
const toneS = parseFloat(msg.toneS);
const gapS = parseFloat(msg.gapS);

const save = (fields) =>
  fetch(msg.progressUrl, {
    method: "POST",
    headers: { "X-CSRFToken": csrf },
    body: new URLSearchParams(fields),
    credentials: "same-origin",
  }).then((response) => {
    if (!response.ok) throw new Error(String(response.status));
  });

const showTrials = ({ focus }) => {
  form.hidden = false;
  volumeDone.hidden = true;
  volumeStep.classList.add("done");
  if (focus) document.getElementById("trials-h").focus();
};

// The server says which step the listener reached (a reload resumes there).
if (msg.step === "trials") showTrials({ focus: false });
else form.hidden = true;

// Which of the three tones is sounding: tone k plays from k * (tone + gap) for `tone` seconds.
const toneAt = (t) => {
  const k = Math.floor(t / (toneS + gapS));
  return k < 3 && t - k * (toneS + gapS) < toneS ? k + 1 : 0;
};

function showTone(fieldset, tone) {
  for (const li of fieldset.querySelectorAll(".tones li")) {
    const now = Number(li.dataset.tone) === tone;
    li.classList.toggle("now", now);
    if (now) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
    li.querySelector(".tone-now").textContent = now ? ` ${msg.msgToneNow}` : "";
  }
}

function followTones(audio, fieldset) {
  let frame = 0;
  const tick = () => {
    showTone(fieldset, audio.paused ? 0 : toneAt(audio.currentTime));
    if (!audio.paused && !audio.ended) frame = requestAnimationFrame(tick);
  };
  audio.addEventListener("play", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(tick);
  });
  for (const event of ["pause", "ended"]) {
    audio.addEventListener(event, () => {
      cancelAnimationFrame(frame);
      showTone(fieldset, 0);
    });
  }
}

const unlock = (fieldset) => {
  fieldset.dataset.played = "";
  for (const input of fieldset.querySelectorAll("input[type=radio]")) input.disabled = false;
};

const players = [];
for (const button of root.querySelectorAll("button.play")) {
  const audio = document.getElementById(button.dataset.audio);
  const fieldset = button.closest("fieldset.trial");
  const player = attachPlayer({
    audio,
    button,
    status: root.querySelector(`[data-status-for="${audio.id}"]`),
    labels,
    onStart: () => players.forEach((other) => other !== player && other.pause()),
    onEnded: () => {
      if (audio.id === "volume-audio" && form.hidden) volumeDone.hidden = false;
      if (fieldset) unlock(fieldset);
    },
  });
  players.push(player);
  if (fieldset) followTones(audio, fieldset);
  if (audio.id === "volume-audio") {
    // The listener may go on once the tone has started; they adjust while it plays.
    audio.addEventListener("play", () => form.hidden && (volumeDone.hidden = false), { once: true });
  }
}

volumeDone.addEventListener("click", () => {
  players.forEach((player) => player.pause());
  showTrials({ focus: true });
  save({ volume_done: "1" }).catch(() => {});
});

form.addEventListener("change", (event) => {
  const input = event.target;
  const fieldset = input.closest("fieldset.trial");
  if (!fieldset || input.type !== "radio") return;
  const status = fieldset.querySelector(".clip-status");
  save({ trial: fieldset.dataset.trial, answer: input.value })
    .then(() => status.classList.remove("error"))
    .catch(() => {
      status.textContent = msg.msgSaveError;
      status.classList.add("error");
    });
});

// A click on a locked answer says why nothing happens.
form.addEventListener("click", (event) => {
  const label = event.target.closest(".choice");
  const fieldset = label && label.closest("fieldset.trial");
  if (fieldset && !("played" in fieldset.dataset)) {
    fieldset.querySelector(".clip-status").textContent = msg.msgPlayFirst;
  }
});
