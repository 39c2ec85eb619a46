/**
 * Light or dark. With no remembered choice the dashboard follows the browser's
 * prefers-color-scheme (and changes with it); the toggle remembers an explicit choice in
 * localStorage under THEME_KEY. THEME_SCRIPT runs in <head> before the first paint, so a page
 * never flashes the wrong theme.
 */
export const THEME_KEY = 'warden-theme';

export const THEME_SCRIPT = `(function(){try{var k=${JSON.stringify(THEME_KEY)};var m=window.matchMedia('(prefers-color-scheme: dark)');var a=function(){var s=localStorage.getItem(k);var d=s==='dark'||(s!=='light'&&m.matches);document.documentElement.classList.toggle('dark',d);};a();m.addEventListener('change',a);window.addEventListener('storage',function(e){if(e.key===k)a();});}catch(e){}})();`;
