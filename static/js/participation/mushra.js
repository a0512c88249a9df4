// MUSHRA page (ITU-R BS.1534-3): one button per sound (the open Reference, then A, B, C…), one
// 0-100 slider per rated sound. Only the selected sound (the one playing, or played last) can
// be rated; Next unlocks once every rated sound was heard in full (90 % of its length covered,
// however often it was switched away from) and every slider was set. Switching sounds keeps the
// playback position when the study says so (data-keep-position), else starts again. A part of
// the sound can be looped. Arrow keys move a slider by 1, Page Up / Page Down by 10.

const form = document.getElementById("mushra-form");
const msg = form.dataset;
const keepPosition = msg.keepPosition === "1";
const live = document.getElementById("mushra-live");
const next = form.querySelector("button.next");
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

const announce = (text) => {
  live.textContent = "";
  window.setTimeout(() => (live.textContent = text), 50);
};
const field = (name, position) => form.elements.namedItem(`${name}_${position}`);

let current = null;

const loop = () => {
  if (!loopOn.checked) return null;
  const start = Number(loopStart.value);
  const end = Number(loopEnd.value);
  return Number.isFinite(start) && Number.isFinite(end) && end > start ? { start, end } : null;
};

const sounds = [...form.querySelectorAll("button.mushra-play")].map((button) => {
  const row = button.closest(".mushra-row");
  const duration = Number(button.dataset.duration) || 0;
  const audio = new Audio();
  audio.preload = "auto";
  audio.src = button.dataset.src;
  const sound = {
    button,
    row,
    audio,
    duration,
    position: button.dataset.position,
    label: button.textContent.trim(),
    slider: row && row.querySelector("input[type=range]"),
    output: row && row.querySelector("output"),
    status: row && row.querySelector(".mushra-status"),
    bins: new Uint8Array(Math.max(1, Math.ceil(duration / BIN))),
    plays: 0,
    lastTime: 0,
    heard: false,
    set: false,
  };
  audio.addEventListener("error", () => announce(msg.msgLoadError));
  audio.addEventListener("ended", () => {
    cover(sound, sound.duration || audio.currentTime);
    const region = loop();
    if (region && sound === current) {
      seek(sound, region.start);
      audio.play();
      return;
    }
    sound.lastTime = 0;
    show();
  });
  audio.addEventListener("pause", show);
  audio.addEventListener("play", show);
  audio.addEventListener("timeupdate", () => tick(sound));
  button.addEventListener("click", () => choose(sound));
  return sound;
});
const rated = sounds.filter((sound) => sound.row);

function seek(sound, time) {
  sound.audio.currentTime = time;
  sound.lastTime = time;
}

// Mark the 0.25-s bins between the last position and `time` as heard: a jump (a seek, a loop
// back) is not listening, so only small steps forward count.
function cover(sound, time) {
  const delta = time - sound.lastTime;
  if (delta > 0 && delta < 1.5) {
    const first = Math.floor(sound.lastTime / BIN);
    const last = Math.min(sound.bins.length - 1, Math.ceil(time / BIN) - 1);
    for (let i = first; i <= last; i += 1) sound.bins[i] = 1;
  }
  sound.lastTime = time;
  const covered = sound.bins.reduce((sum, bin) => sum + bin, 0);
  const seconds = Math.min(sound.duration, covered * BIN);
  field("played", sound.position).value = seconds.toFixed(3);
  if (!sound.heard && covered >= PLAYED_SHARE * sound.bins.length) {
    sound.heard = true;
    show();
  }
}

function tick(sound) {
  const time = sound.audio.currentTime;
  const region = loop();
  if (region && sound === current && time >= region.end) {
    cover(sound, region.end);
    seek(sound, region.start);
  } else {
    cover(sound, time);
  }
  if (sound === current) timeNow.textContent = sound.audio.currentTime.toFixed(1);
}

// While a sound plays, follow it more finely than timeupdate (every ~250 ms) so a loop ends
// where it was asked to.
function frame() {
  if (current && !current.audio.paused) tick(current);
  window.requestAnimationFrame(frame);
}
window.requestAnimationFrame(frame);

function choose(sound) {
  if (sound === current && !sound.audio.paused) {
    sound.audio.pause();
    return;
  }
  let time = 0;
  if (current && current !== sound) {
    time = current.audio.currentTime;
    current.audio.pause();
  } else if (current === sound) {
    time = sound.audio.ended ? 0 : sound.audio.currentTime;
  }
  if (current !== sound && !keepPosition) time = 0;
  const region = loop();
  if (region && (time < region.start || time >= region.end)) time = region.start;
  if (time >= (sound.duration || 0) - 0.05) time = 0;
  current = sound;
  seek(sound, time);
  sound.plays += 1;
  field("plays", sound.position).value = sound.plays;
  sound.audio.play().catch(() => announce(msg.msgLoadError));
  show();
}

function show() {
  for (const sound of sounds) {
    const playing = sound === current && !sound.audio.paused;
    sound.button.setAttribute("aria-pressed", String(sound === current));
    sound.button.classList.toggle("playing", playing);
    if (!sound.row) continue;
    sound.row.classList.toggle("selected", sound === current);
    sound.slider.disabled = sound !== current;
    sound.status.textContent = playing
      ? msg.msgPlaying
      : sound.heard
        ? msg.msgPlayed
        : msg.msgNotPlayed;
  }
  next.disabled = !ready();
}

const ready = () => rated.every((sound) => sound.heard && sound.set);

function setValue(sound, value) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  sound.slider.value = v;
  sound.set = true;
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

stop.addEventListener("click", () => current && current.audio.pause());
loopOn.addEventListener("change", () => {
  if (loopOn.checked && !loop()) announce(msg.msgLoopBad);
});

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
    announce(msg.msgAllFirst);
    return;
  }
  for (const sound of sounds) sound.audio.pause();
  window.setTimeout(() => (next.disabled = true), 0); // one answer per page
});

window.addEventListener("pageshow", show);
show();
