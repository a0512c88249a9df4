// Copy buttons: <button data-copy="ID"> copies the value of the input with that id.
// navigator.clipboard needs a secure context (https or localhost); elsewhere fall back to
// selecting the text and document.execCommand("copy"), and if even that fails, leave the
// text selected so the researcher can press Ctrl+C.

const status = document.querySelector("[data-copy-status]");

function announce(message) {
  if (status) status.textContent = message;
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
  const label = input.labels && input.labels[0] ? input.labels[0].textContent.trim() : "Text";
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
    announce(`${label}: copied.`);
  } else {
    fallbackCopy(input);
    announce(`${label}: selected; press Ctrl+C (or ⌘C) to copy.`);
  }
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => copy(button));
}
