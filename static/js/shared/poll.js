// Reading a JSON status endpoint, shared by the pages that poll one (synthesis progress, report
// builds): the answer's data, or an exception the caller turns into "ask again later".

export async function fetchStatus(url) {
  const response = await fetch(url, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  // Never shown: the callers catch it and ask again later.
  if (!response.ok) throw new Error(String(response.status));
  return response.json();
}
