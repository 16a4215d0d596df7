import LocustUi, { baseTabs } from 'locust-ui';
import React from 'react';
import ReactDOM from 'react-dom/client';

import AgentsTab from './AgentsTab';
import FaultsTab from './FaultsTab';

// locust-ui 2.43.4 (the newest on npm) sends its Stop and Reset as GET; Locust 2.47 takes them as POST
// only (its own bundled page does). Until npm catches up, those two calls are sent as POST.
const POST_ONLY = [/\/stop$/, /\/stats\/reset$/];
const fetchAsLocust = window.fetch.bind(window);
window.fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input.url;
  const method = (init && init.method) || (typeof input === 'string' ? 'GET' : input.method);
  if (method === 'GET' && POST_ONLY.some(re => re.test(new URL(url, window.location.href).pathname))) {
    return fetchAsLocust(url, { ...(init || {}), method: 'POST' });
  }
  return fetchAsLocust(input, init);
};

// Locust's own tabs first, then ours (the tab bar is Locust's).
const tabs = [
  ...baseTabs,
  { title: 'Agents', key: 'agents', component: AgentsTab },
  { title: 'Faults', key: 'faults', component: FaultsTab },
];

ReactDOM.createRoot(document.getElementById('root')).render(<LocustUi tabs={tabs} />);
