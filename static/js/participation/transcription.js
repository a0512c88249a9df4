// Transcription page: the clip plays at most as often as the study allows. Each play is first
// counted by the server (POST to data-play-url), which serves the audio only after that; Next
// (or Enter in the text box) sends what was typed, once the clip has played to its end.
import { liveAnnouncer } from "./announce.js";
import { firstOpenFollowup, followupsAnswered } from "./followups.js";
import { pageForm } from "./form.js";

const { form, msg, next } = pageForm("transcription-form");
const audio = form.querySelector("audio");
const button = form.querySelector("button.play");
const status = document.getElementById("clip-status");
const text = document.getElementById("transcript");
const played = form.elements.namedItem("played_0");
const duration = Number(msg.duration) || 0;
const csrf = form.elements.namedItem("csrfmiddlewaretoken").value;

let left = Number(msg.playsLeft);
let heard = 0;
let lastTime = 0;
// A reload after the last play: the clip cannot play again, and the answer may still go.
let ended = msg.playedBefore === "1" && left <= 0;
let asking = false;

const announce = liveAnnouncer("rate-live");
const sayLeft = () => {
  status.textContent = left > 0 ? `${msg.msgLeft} ${left}` : msg.msgNoneLeft;
  button.disabled = left <= 0 || !audio.paused;
};

audio.addEventListener("timeupdate", () => {
  const delta = audio.currentTime - lastTime;
  if (delta > 0 && delta < 1.5) heard += delta;
  lastTime = audio.currentTime;
  played.value = Math.min(heard, duration * 10).toFixed(3);
});
audio.addEventListener("play", () => {
  button.disabled = true;
  status.textContent = msg.msgPlaying;
});
audio.addEventListener("ended", () => {
  const delta = (audio.duration || duration) - lastTime;
  if (delta > 0 && delta < 1.5) heard += delta;
  lastTime = 0;
  played.value = heard.toFixed(3);
  ended = true;
  sayLeft();
  if (left > 0) status.textContent = `${msg.msgEnded} ${status.textContent}`;
  text.focus();
});
audio.addEventListener("error", () => (status.textContent = msg.msgLoadError));

button.addEventListener("click", async () => {
  if (asking || left <= 0 || !audio.paused) return;
  asking = true;
  try {
    const response = await fetch(msg.playUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf },
      credentials: "same-origin",
    });
    const answer = await response.json();
    if (!response.ok) {
      left = 0;
      sayLeft();
      announce(answer.error);
      return;
    }
    left = answer.left;
    if (!audio.getAttribute("src")) audio.src = msg.src;
    audio.currentTime = 0;
    lastTime = 0;
    await audio.play();
  } catch {
    status.textContent = msg.msgLoadError;
  } finally {
    asking = false;
  }
});

form.addEventListener("submit", (event) => {
  if (!ended) {
    event.preventDefault();
    announce(msg.msgListenFirst);
    return;
  }
  if (!text.value.trim()) {
    event.preventDefault();
    announce(msg.msgType);
    text.focus();
    return;
  }
  if (!followupsAnswered(form)) {
    event.preventDefault();
    announce(msg.msgFollowups);
    firstOpenFollowup(form)?.focus();
    return;
  }
  window.setTimeout(() => (next.disabled = true), 0); // one answer per page
});
