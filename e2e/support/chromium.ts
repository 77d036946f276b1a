/** Headless Chromium for the web-view tests (playwright-core over the system's /usr/bin/chromium). */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.KEYWAY_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests skip (no Chromium), or undefined; throws under KEYWAY_REQUIRE_E2E=1. */
export function chromiumSkipReason(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `Chromium not found at ${CHROMIUM} (run scripts/install-chromium.sh or set KEYWAY_CHROMIUM)`;
  if (process.env.KEYWAY_REQUIRE_E2E === '1') throw new Error(`${reason}; KEYWAY_REQUIRE_E2E=1 requires it`);
  return reason;
}

/** A running headless Chromium; `close()` ends it and removes its profile. */
export interface HeadlessBrowser {
  readonly context: BrowserContext;
  readonly profile: string;
  close(): Promise<void>;
}

/** A fresh headless Chromium profile, 1280x900 at scale 1. */
export async function launch(): Promise<HeadlessBrowser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'keyway-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  return {
    context,
    profile,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A web view under test: the admin app listening on 127.0.0.1 and a headless browser to open it. */
export interface OpenWebView {
  readonly origin: string;
  readonly context: BrowserContext;
  /** Closes the browser, then the app. */
  close(): Promise<void>;
}

/** Starts `app` on a free loopback port and launches a browser for it. */
export async function openWebView(app: FastifyInstance): Promise<OpenWebView> {
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await launch();
  return {
    origin,
    context: browser.context,
    async close() {
      await browser.close();
      await app.close();
    },
  };
}
