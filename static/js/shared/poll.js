// Reading a JSON status endpoint, shared by the pages that poll one (synthesis progress, report
// builds): the answer's data, or an exception the caller turns into "ask again later".

export async function fetchStatus(url) {
  const response = await fetch(url, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`status ${response.status}`);
  return response.json();
}
