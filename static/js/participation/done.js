// Completion page: a Copy button for the completion code, where the browser allows it.
const button = document.querySelector("[data-copy]");
if (button && navigator.clipboard) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const code = document.getElementById(button.dataset.copy).textContent.trim();
    try {
      await navigator.clipboard.writeText(code);
      button.textContent = button.dataset.copied;
    } catch {
      // Clipboard refused (permissions): the code stays on screen to copy by hand.
    }
  });
}
