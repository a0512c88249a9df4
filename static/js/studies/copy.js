// Copy buttons: <button data-copy="ID"> copies the value of the input with that id.
// navigator.clipboard needs a secure context (https or localhost); elsewhere fall back to
// selecting the text and document.execCommand("copy"), and if even that fails, leave the
// text selected so the researcher can press Ctrl+C. The words come from the status line's
// data-msg-* attributes (listening/studies/_copy_status.html), translated there.

import { fill } from "../shared/text.js";

const status = document.querySelector("[data-copy-status]");
const text = status ? status.dataset : {};

function announce(template, label) {
  if (status) status.textContent = fill(template, { label });
}

function fallbackCopy(input) {
  input.focus();
  input.select();
  input.setSelectionRange(0, input.value.length);
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

async function copy(button) {
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  const named = input.labels && input.labels[0] ? input.labels[0].textContent.trim() : "";
  const label = named || text.msgLabel;
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(input.value);
      copied = true;
    } catch {
      copied = false;
    }
  }
  if (!copied) copied = fallbackCopy(input);
  if (copied) {
    button.dataset.copied = "true";
    announce(text.msgCopied, label);
  } else {
    fallbackCopy(input);
    announce(text.msgSelected, label);
  }
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => copy(button));
}
