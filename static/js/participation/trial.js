// Trial page of a comparison (CCR, AB, ABX, SMOS): every sound of the trial must play to its end
// (ITU-T P.808) before the answer unlocks. Space or Enter plays the next sound not yet heard
// (or pauses the one playing); the answer keys are the ones each option shows (digits, or A, B
// and N), listed in the form's data-keys; Enter on an answer goes to the next page.
import { pageAnnouncer } from "./announce.js";
import { firstOpenFollowup, followupsAnswered } from "./followups.js";
import { pageForm } from "./form.js";
import { attachSectionPlayer, playerLabels } from "./player.js";

const { form, msg, next } = pageForm("rate-form");
const fieldset = form.querySelector("fieldset.answer");
const endedField = form.elements.namedItem("ended_0");
const labels = playerLabels(msg);

const announce = pageAnnouncer();
const chosen = () => fieldset.querySelector("input:checked");
const unlocked = () => sounds.every((sound) => sound.ended);
const answered = () => unlocked() && chosen() && followupsAnswered(form);
const update = () => (next.disabled = !answered());

const sounds = [...form.querySelectorAll("section.sound")].map((section) => {
  const k = section.dataset.k;
  const field = (name) => form.elements.namedItem(`${name}_0_${k}`);
  const sound = { section, ended: false };
  sound.player = attachSectionPlayer(section, {
    labels,
    players: () => sounds.map((other) => other.player),
    field,
    onEnded: (state) => {
      if (sound.ended) return;
      sound.ended = true;
      if (unlocked()) {
        // The moment the last sound first ended: the answer could come from here on.
        endedField.value = Math.round(state.firstEndedMs);
        fieldset.disabled = false;
        announce(msg.msgAllEnded, { visible: false });
      }
      update();
    },
  });
  return sound;
});

form.addEventListener("change", update);
form.addEventListener("click", (event) => {
  if (!unlocked() && event.target.closest(".acr-option")) announce(msg.msgListenFirst);
});

const keys = [...msg.keys];
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
  const target = event.target;
  const key = event.key.length === 1 ? event.key.toUpperCase() : event.key;
  if (keys.includes(key)) {
    event.preventDefault();
    if (!unlocked()) {
      announce(msg.msgListenFirst);
      return;
    }
    const radio = fieldset.querySelector(`input[data-key="${key}"]`);
    radio.checked = true;
    radio.focus();
    update();
    const label = radio.closest("label").querySelector(".acr-label").textContent.trim();
    announce(`${msg.msgChosen} ${label}`, { visible: false });
  } else if (event.key === "Enter" && fieldset.contains(target) && !next.disabled) {
    // Enter on the chosen answer goes on, as Next does.
    event.preventDefault();
    form.requestSubmit(next);
  } else if (
    (event.key === " " || event.key === "Enter") &&
    !target.closest("button, input, a, select, textarea, label")
  ) {
    event.preventDefault();
    const playing = sounds.find((sound) => sound.player.playing());
    (playing || sounds.find((sound) => !sound.ended) || sounds[0]).player.toggle();
  }
});

form.addEventListener("submit", (event) => {
  if (!answered()) {
    event.preventDefault();
    if (unlocked() && chosen()) firstOpenFollowup(form)?.focus();
    announce(!unlocked() ? msg.msgListenFirst : chosen() ? msg.msgFollowups : msg.msgChoose);
    return;
  }
  window.setTimeout(() => (next.disabled = true), 0);
});

window.addEventListener("pageshow", update);
