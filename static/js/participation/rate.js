// Rating page: each clip's ACR scale unlocks once the clip has played to its end (ITU-T P.808);
// keys 1-5 choose a rating, Space or Enter plays, Enter on a rating goes to the next page.
import { pageAnnouncer } from "./announce.js";
import { firstOpenFollowup, followupsAnswered } from "./followups.js";
import { pageForm } from "./form.js";
import { attachSectionPlayer, playerLabels } from "./player.js";

const { form, msg, next } = pageForm("rate-form");
const labels = playerLabels(msg);

const chosen = (clip) => clip.fieldset.querySelector("input:checked");
// Nothing is announced while a clip plays: a voice over the clip would spoil the listening.
const announce = pageAnnouncer();
const ready = () => clips.every((clip) => clip.unlocked && chosen(clip)) && followupsAnswered(form);
const update = () => (next.disabled = !ready());

const clips = [...form.querySelectorAll("section.clip")].map((section) => {
  const n = section.dataset.n;
  const field = (name) => form.elements.namedItem(`${name}_${n}`);
  const clip = { section, fieldset: section.querySelector("fieldset.acr"), unlocked: false };
  clip.player = attachSectionPlayer(section, {
    labels,
    players: () => clips.map((other) => other.player),
    field,
    onChange: (state) => {
      if (state.firstEndedMs !== null) field("ended").value = Math.round(state.firstEndedMs);
    },
    onEnded: () => {
      if (clip.unlocked) return;
      clip.unlocked = true;
      clip.fieldset.disabled = false;
      announce(msg.msgEnded, { visible: false });
      update();
    },
  });
  section.addEventListener("click", (event) => {
    if (!clip.unlocked && event.target.closest(".acr-option")) announce(msg.msgListenFirst);
  });
  return clip;
});

form.addEventListener("change", update);

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
  const target = event.target;
  const active =
    clips.find((clip) => clip.section.contains(target)) ||
    clips.find((clip) => !chosen(clip)) ||
    clips[0];
  if (/^[1-5]$/.test(event.key)) {
    event.preventDefault();
    if (!active.unlocked) {
      announce(msg.msgListenFirst);
      return;
    }
    const radio = active.fieldset.querySelector(`input[value="${event.key}"]`);
    radio.checked = true;
    radio.focus();
    update();
    const label = radio.closest("label").textContent.trim().replace(/\s+/g, " ");
    announce(`${msg.msgChosen} ${label}`, { visible: false });
  } else if (
    (event.key === " " || event.key === "Enter") &&
    !target.closest("button, input, a, select, textarea, label")
  ) {
    event.preventDefault();
    active.player.toggle();
  }
});

form.addEventListener("submit", (event) => {
  if (!ready()) {
    event.preventDefault();
    const locked = clips.find((clip) => !clip.unlocked);
    const scored = clips.every((clip) => chosen(clip));
    if (!locked && scored) firstOpenFollowup(form)?.focus();
    announce(locked ? msg.msgListenFirst : scored ? msg.msgFollowups : msg.msgChoose);
    return;
  }
  // One answer per page: a double click must not send the form twice.
  window.setTimeout(() => (next.disabled = true), 0);
});

// Coming back with the Back button restores the page from cache: re-check the button.
window.addEventListener("pageshow", update);
