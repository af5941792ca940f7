import { render } from 'preact';
import '../common/styles.css';
import { WorkerApp } from './app.tsx';

render(<WorkerApp />, document.getElementById('app') as HTMLElement);

// The service worker makes the page installable and shows alarms as notifications; scope is /worker/.
if ('serviceWorker' in navigator) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/worker/sw.js', { scope: '/worker/' }).catch(() => undefined);
  });
}
