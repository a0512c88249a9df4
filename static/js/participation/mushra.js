// MUSHRA page (ITU-R BS.1534-3): one button per sound (the open Reference, then A, B, C…), one
// 0-100 slider per rated sound. Only the selected sound (the one playing, or played last) can
// be rated; Next unlocks once every rated sound was heard in full (90 % of its length covered,
// however often it was switched away from) and every slider was set. Switching sounds keeps the
// playback position when the study says so (data-keep-position), else starts again. A part of
// the sound can be looped. The form's data-playback-seconds holds the playback position (what
// the time display shows, to the millisecond), so that a test can read it. Arrow keys move a slider by 1, Page Up / Page Down by 10.

import { liveAnnouncer } from "./announce.js";
import { firstOpenFollowup, followupsAnswered } from "./followups.js";
import { pageForm } from "./form.js";

const { form, msg, next } = pageForm("mushra-form");
const keepPosition = msg.keepPosition === "1";
const stop = form.querySelector("button.mushra-stop");
const loopOn = form.querySelector("input.loop-on");
const loopStart = form.querySelector("input.loop-start");
const loopEnd = form.querySelector("input.loop-end");
const timeNow = form.querySelector(".time-now");
// The five bands, best first: "80:Excellent|60:Good|…".
const bands = msg.bands.split("|").map((part) => {
  const [low, label] = part.split(":");
  return { low: Number(low), label };
});
const bandOf = (value) => bands.find((band) => value >= band.low) || bands[bands.length - 1];
const BIN = 0.25; // seconds: the grain of "heard in full"
const PLAYED_SHARE = 0.9;

const announce = liveAnnouncer("mushra-live");
const field = (name, position) => form.elements.namedItem(`${name}_${position}`);

// Playback through the Web Audio API: every sound is decoded once, so switching is instant
// and keeps the position to the sample, and a loop repeats its part without a gap (an <audio>
// element seeks a FLAC file unreliably).
const context = new AudioContext();
let current = null;
let node = null; // the source playing, if any
let startedAt = 0; // context time when `node` started
let offset = 0; // position in the sound when `node` started
let pausedAt = 0; // position of the current sound while nothing plays

// The loop asked for over `sound`, or null when none is on or it is not valid: it must start
// before it ends and inside the sound (an end past the sound loops to its end); a start past
// the sound's end would play nothing at all, so it is refused with a message.
const loop = (sound) => {
  if (!loopOn.checked) return null;
  const start = Number(loopStart.value);
  const end = Number(loopEnd.value);
  const inside = !sound || start < sound.duration - 0.05;
  return Number.isFinite(start) && Number.isFinite(end) && end > start && start >= 0 && inside
    ? { start, end }
    : null;
};
const positionShow = (time) => {
  form.dataset.playbackSeconds = time.toFixed(3);
  timeNow.textContent = time.toFixed(1);
};

const sounds = [...form.querySelectorAll("button.mushra-play")].map((button) => {
  const row = button.closest(".mushra-row");
  const duration = Number(button.dataset.duration) || 0;
  const sound = {
    button,
    row,
    duration,
    buffer: null,
    position: button.dataset.position,
    slider: row && row.querySelector("input[type=range]"),
    output: row && row.querySelector("output"),
    status: row && row.querySelector(".mushra-status"),
    bins: new Uint8Array(Math.max(1, Math.ceil(duration / BIN))),
    plays: 0,
    lastTime: 0,
    heard: false,
    set: false,
  };
  sound.loaded = fetch(button.dataset.src, { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(String(response.status));
      return response.arrayBuffer();
    })
    .then((bytes) => context.decodeAudioData(bytes))
    .then((buffer) => {
      sound.buffer = buffer;
      sound.duration = buffer.duration;
    })
    .catch(() => announce(msg.msgLoadError));
  button.addEventListener("click", () => choose(sound));
  return sound;
});
const rated = sounds.filter((sound) => sound.row);
const playing = () => node !== null;

// Where the current sound is now, in seconds (inside the loop when one is on).
function now() {
  if (!playing()) return pausedAt;
  let time = offset + (context.currentTime - startedAt);
  if (node.loop && time > node.loopEnd) {
    const length = node.loopEnd - node.loopStart;
    time = node.loopStart + ((time - node.loopStart) % length);
  }
  return Math.min(time, current.duration);
}

// Mark the 0.25-s bins between the last position and `time` as heard: a jump (a loop going
// back, a switch) is not listening, so only small steps forward count.
function cover(sound, time) {
  const delta = time - sound.lastTime;
  if (delta > 0 && delta < 1.5) {
    const first = Math.floor(sound.lastTime / BIN);
    const last = Math.min(sound.bins.length - 1, Math.ceil(time / BIN) - 1);
    for (let i = first; i <= last; i += 1) sound.bins[i] = 1;
  }
  sound.lastTime = time;
  const covered = sound.bins.reduce((sum, bin) => sum + bin, 0);
  field("played", sound.position).value = Math.min(sound.duration, covered * BIN).toFixed(3);
  if (!sound.heard && covered >= PLAYED_SHARE * sound.bins.length) {
    sound.heard = true;
    show();
  }
}

function frame() {
  if (current && playing()) {
    cover(current, now());
    positionShow(now());
  }
  window.requestAnimationFrame(frame);
}
window.requestAnimationFrame(frame);

function halt() {
  if (!node) return;
  pausedAt = now();
  cover(current, pausedAt);
  positionShow(pausedAt);
  node.onended = null;
  node.stop();
  node = null;
}

function start(sound, time) {
  const source = context.createBufferSource();
  source.buffer = sound.buffer;
  source.connect(context.destination);
  const region = loop(sound);
  if (region) {
    source.loop = true;
    source.loopStart = Math.min(region.start, sound.duration);
    source.loopEnd = Math.min(region.end, sound.duration);
  }
  source.onended = () => {
    if (source !== node) return;
    cover(sound, sound.duration);
    node = null;
    pausedAt = sound.duration;
    show();
  };
  node = source;
  offset = time;
  startedAt = context.currentTime;
  sound.lastTime = time;
  source.start(0, time);
  positionShow(time);
}

async function choose(sound) {
  context.resume();
  if (sound === current && playing()) {
    halt();
    show();
    return;
  }
  await sound.loaded;
  if (!sound.buffer) return;
  let time = 0;
  if (current) {
    halt();
    time = pausedAt;
  }
  if (current !== sound && !keepPosition) time = 0;
  const region = loop(sound);
  if (loopOn.checked && !region) announce(msg.msgLoopBad);
  if (region && (time < region.start || time >= region.end)) time = region.start;
  if (time >= sound.duration - 0.05) time = region ? region.start : 0;
  current = sound;
  sound.plays += 1;
  field("plays", sound.position).value = sound.plays;
  start(sound, time);
  show();
}

function show() {
  for (const sound of sounds) {
    const on = sound === current && playing();
    sound.button.setAttribute("aria-pressed", String(sound === current));
    sound.button.classList.toggle("playing", on);
    if (!sound.row) continue;
    sound.row.classList.toggle("selected", sound === current);
    sound.slider.disabled = sound !== current;
    const part = sound.bins.some((bin) => bin);
    sound.status.textContent = on
      ? msg.msgPlaying
      : sound.heard
        ? msg.msgPlayed
        : part
          ? msg.msgPartly
          : msg.msgNotPlayed;
  }
  next.disabled = !ready();
}

const ready = () => rated.every((sound) => sound.heard && sound.set) && followupsAnswered(form);

function setValue(sound, value) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  sound.slider.value = v;
  sound.set = true;
  sound.slider.classList.remove("unset");
  field("score", sound.position).value = v;
  sound.output.textContent = v;
  sound.slider.setAttribute("aria-valuetext", `${v}, ${bandOf(v).label}`);
  next.disabled = !ready();
}

for (const sound of rated) {
  sound.slider.addEventListener("input", () => setValue(sound, Number(sound.slider.value)));
  // A click or tap that leaves the value where it was still sets it.
  sound.slider.addEventListener("change", () => setValue(sound, Number(sound.slider.value)));
  sound.slider.addEventListener("keydown", (event) => {
    if (!/^Page(Up|Down)$/.test(event.key)) return;
    event.preventDefault();
    const step = /Up$/.test(event.key) ? 10 : -10;
    setValue(sound, Number(sound.slider.value) + step);
  });
  // A disabled slider takes no events: its wrapper says why it does not move.
  sound.slider.parentElement.addEventListener("click", () => {
    if (sound.slider.disabled) announce(msg.msgPlayFirst);
  });
}

stop.addEventListener("click", () => {
  halt();
  show();
});
// A loop changed while a sound plays: go on from where it is, with the new loop.
const relooped = () => {
  if (loopOn.checked && !loop(current || rated[0])) announce(msg.msgLoopBad);
  if (!playing()) return;
  halt();
  let time = pausedAt;
  const region = loop(current);
  if (region && (time < region.start || time >= region.end)) time = region.start;
  start(current, time);
};
for (const input of [loopOn, loopStart, loopEnd]) input.addEventListener("change", relooped);

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
  if (event.key === " " && !event.target.closest("button, input, a, select, textarea, label")) {
    event.preventDefault();
    if (current) choose(current);
  }
});

form.addEventListener("submit", (event) => {
  if (!ready()) {
    event.preventDefault();
    const scored = rated.every((sound) => sound.heard && sound.set);
    if (scored) firstOpenFollowup(form)?.focus();
    announce(scored ? msg.msgFollowups : msg.msgAllFirst);
    return;
  }
  halt();
  window.setTimeout(() => (next.disabled = true), 0); // one answer per page
});

// A page sent back (a follow-up question left open) shows the values it carried; each sound
// must still be heard again before the page can go on.
for (const sound of rated) {
  const kept = field("score", sound.position).value;
  if (kept !== "") setValue(sound, Number(kept));
}
form.addEventListener("change", (event) => {
  if (event.target.closest("fieldset.followups")) next.disabled = !ready();
});

window.addEventListener("pageshow", show);
show();
