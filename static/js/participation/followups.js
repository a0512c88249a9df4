// The study's yes/no follow-up questions on a listener page (_followups.html): a page may go on
// only when every question of every clip has its answer; the server checks the same.
const rows = (root) => [...root.querySelectorAll("fieldset.followups .followup")];

export const followupsAnswered = (root) => rows(root).every((row) => row.querySelector("input:checked"));

// The first question still open, to move the focus to it when the listener tries to go on.
export const firstOpenFollowup = (root) =>
  rows(root).find((row) => !row.querySelector("input:checked"))?.querySelector("input") ?? null;
