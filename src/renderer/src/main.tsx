import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { createHarnessApi, harnessToken } from './harness-api';
import './styles.css';

// In the app the preload installs `window.localizer`; in the browser harness we do.
const token = harnessToken();
// The preload's object is missing in a plain browser, whatever the type says.
const installed = (window as { localizer?: unknown }).localizer;
if (installed === undefined && token) window.localizer = createHarnessApi(token);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
