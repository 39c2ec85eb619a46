import { describe, expect, it } from 'vitest';
import { isNetworkBlip } from './helpers/browser';

// The browser tests' goto and reload go again only on the test machine's network blips; a
// navigation an app redirects elsewhere must still fail the test.
describe('isNetworkBlip', () => {
  const url = 'http://127.0.0.1:46433/jobs?tab=queued';
  it.each([
    ['net::ERR_NETWORK_CHANGED', `page.goto: net::ERR_NETWORK_CHANGED at ${url}`, true],
    ['the error page', `page.goto: Navigation to "${url}" is interrupted by another navigation to "chrome-error://chromewebdata/"`, true],
    ['the same URL again (CI at a3bf2d0)', `page.goto: Navigation to "${url}" is interrupted by another navigation to "${url}"`, true],
    ['a redirect to another page', `page.goto: Navigation to "${url}" is interrupted by another navigation to "http://127.0.0.1:46433/login"`, false],
    ['the same path with other parameters', `page.goto: Navigation to "${url}" is interrupted by another navigation to "${url}&q=x"`, false],
    ['a timeout', 'page.goto: Timeout 30000ms exceeded.', false],
    ['refused', `page.goto: net::ERR_CONNECTION_REFUSED at ${url}`, false],
  ])('%s', (_what, message, blip) => {
    expect(isNetworkBlip(new Error(message), url)).toBe(blip);
  });
});
