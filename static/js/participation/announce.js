// What a listener page says through its live regions (role="status", aria-live="polite").
// Each region is cleared first and filled a moment later, so the same sentence twice is read
// twice by a screen reader.

// The live region of this id as announce(text).
export function liveAnnouncer(id) {
  const live = document.getElementById(id);
  return (text) => {
    live.textContent = "";
    window.setTimeout(() => (live.textContent = text), 50);
  };
}

// The page's two live regions (#rate-live on screen, #rate-sr for screen readers only) as one
// announce(text, { visible }). Cleared first, so the same sentence twice is read twice;
// warnings show on screen too, news the clip's own status already shows goes to the hidden
// region only, so the visible line (and Next below it) never moves.
export function pageAnnouncer() {
  const live = document.getElementById("rate-live");
  const srLive = document.getElementById("rate-sr");
  return (text, { visible = true } = {}) => {
    const region = visible ? live : srLive;
    live.textContent = "";
    srLive.textContent = "";
    window.setTimeout(() => (region.textContent = text), 50);
  };
}
