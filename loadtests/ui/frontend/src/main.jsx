import LocustUi, { baseTabs } from 'locust-ui';
import React from 'react';
import ReactDOM from 'react-dom/client';

import AgentsTab from './AgentsTab';
import FaultsTab from './FaultsTab';

// Locust's own tabs first, then ours (the tab bar is Locust's).
const tabs = [
  ...baseTabs,
  { title: 'Agents', key: 'agents', component: AgentsTab },
  { title: 'Faults', key: 'faults', component: FaultsTab },
];

ReactDOM.createRoot(document.getElementById('root')).render(<LocustUi tabs={tabs} />);
