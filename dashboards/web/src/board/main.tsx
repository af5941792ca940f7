import { render } from 'preact';
import '../common/styles.css';
import './views.css';
import { BoardApp } from './app.tsx';

render(<BoardApp />, document.getElementById('app') as HTMLElement);
