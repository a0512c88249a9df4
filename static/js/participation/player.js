// A play button for an <audio> element without native controls (no seek bar: the only way to
// reach the end of a clip is to hear it). Tracks what the server asks for with each rating:
// how many times the clip was started, how many seconds were played in all, and when the first
// complete play ended (ms since the page's navigation began, performance.now()).

// The player's words, from the page's data-msg-* attributes (the server translates them);
// ``ended`` is what the status says once a clip has played to its end.
export function playerLabels(msg, ended = msg.msgEnded) {
  return {
    play: msg.msgPlay,
    pause: msg.msgPause,
    again: msg.msgPlayAgain,
    playing: msg.msgPlaying,
    ended,
    error: msg.msgLoadError,
  };
}

export function attachPlayer({ audio, button, status, labels, onStart, onEnded, onChange }) {
  const state = { plays: 0, played: 0, firstEndedMs: null, lastTime: 0 };
  const firstLabel = button.textContent.trim();
  const say = (text) => {
    if (status) status.textContent = text;
  };
  const changed = () => onChange && onChange(state);

  const count = (time) => {
    // timeupdate fires every ~250 ms; a bigger jump is not listening time.
    const delta = time - state.lastTime;
    if (delta > 0 && delta < 1.5) state.played += delta;
    state.lastTime = time;
  };

  function start() {
    if (!audio.paused && !audio.ended) {
      audio.pause();
      return;
    }
    if (audio.ended || audio.currentTime === 0) {
      audio.currentTime = 0;
      state.plays += 1;
      changed();
    }
    if (onStart) onStart();
    audio.play().catch(() => say(labels.error));
  }

  button.addEventListener("click", start);
  audio.addEventListener("play", () => {
    state.lastTime = audio.currentTime;
    button.textContent = labels.pause || labels.play;
    say(labels.playing);
  });
  audio.addEventListener("pause", () => {
    if (audio.ended) return;
    button.textContent = state.firstEndedMs === null ? firstLabel : labels.again;
    say("");
  });
  audio.addEventListener("timeupdate", () => {
    count(audio.currentTime);
    changed();
  });
  audio.addEventListener("ended", () => {
    count(audio.duration || audio.currentTime);
    state.lastTime = 0;
    if (state.firstEndedMs === null) state.firstEndedMs = performance.now();
    button.textContent = labels.again;
    say(labels.ended);
    changed();
    if (onEnded) onEnded(state);
  });
  audio.addEventListener("error", () => say(labels.error));

  return {
    state,
    toggle: start,
    pause() {
      if (!audio.paused) audio.pause();
    },
    playing: () => !audio.paused && !audio.ended,
  };
}

// The player of one sound of a page that shows several, each in its own <section> with an
// <audio>, a button.play and a .clip-status: starting it pauses the page's other sounds
// (``players()`` lists every player of the page), and each change writes the times played and
// the seconds heard to the section's hidden fields (``field(name)`` finds them).
export function attachSectionPlayer(section, { labels, players, field, onChange, onEnded }) {
  const player = attachPlayer({
    audio: section.querySelector("audio"),
    button: section.querySelector("button.play"),
    status: section.querySelector(".clip-status"),
    labels,
    onStart: () => players().forEach((other) => other !== player && other.pause()),
    onChange: (state) => {
      field("plays").value = state.plays;
      field("played").value = state.played.toFixed(3);
      if (onChange) onChange(state);
    },
    onEnded,
  });
  return player;
}
