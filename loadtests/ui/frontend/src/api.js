// agentsoak's routes on Locust's web UI (loadtests/ui/web.py).
import { useEffect, useState } from 'react';

const base = window.baseUrl || '';

export async function call(path, method = 'GET', body = undefined) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

export function usePoll(path, everyMs = 1000) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    const tick = () =>
      call(path)
        .then(d => live && (setData(d), setError(null)))
        .catch(e => live && setError(String(e.message || e)));
    tick();
    const id = setInterval(tick, everyMs);
    return () => {
      live = false;
      clearInterval(id);
    };
  }, [path, everyMs]);
  return [data, error];
}
