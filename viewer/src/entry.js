// The page's only script tag: boot the app into #app (kept out of main.js so that importing
// modules never touches the DOM, and so that the page needs no inline script under the CSP).
import { boot } from './main.js';

boot(document.getElementById('app'));
