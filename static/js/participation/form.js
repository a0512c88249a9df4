// The form a rating page's script works on (rate, trial, MUSHRA, transcription), with what
// every one of them reads from it: the words the template translated for it (its data-msg-*
// attributes, as `msg`) and Next, which the script unlocks once the page can go on.
export function pageForm(id) {
  const form = document.getElementById(id);
  return { form, msg: form.dataset, next: form.querySelector("button.next") };
}
