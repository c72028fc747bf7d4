/**
 * The window, end to end: in Debian's Chromium against the browser harness (a real engine on a
 * real test cluster), and against the Electron app itself wherever the Electron binary exists.
 * Screenshots of the main views go to test-results/ui/.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { _electron, chromium, type Browser, type ElectronApplication, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { field } from '../cluster/api/objects';
import { resourceTypeOfKind } from '../cluster/api/resources';
import { startTestCluster, type TestCluster } from '../cluster/test-cluster';
import { buildRenderer } from '../harness/build-renderer';
import { startHarness, type Harness } from '../harness/harness-server';
import type { LocalizerApi } from '../../src/shared/api';
import { takeLocalizerRange } from '../support/address-ranges';
import { run } from '../support/processes';
import { echoRoundTrip, freePort } from '../support/sockets';
import { requireSystemTools } from '../support/system-tools';
import { builtCli } from '../support/built-localizer';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const artifacts = join(projectRoot, 'test-results/ui');
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** The Electron binary, if `npm ci` could download it here. */
function electronBinary(): string | null {
  const pathFile = join(projectRoot, 'node_modules/electron/path.txt');
  if (!existsSync(pathFile)) return null;
  const binary = join(projectRoot, 'node_modules/electron/dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? binary : null;
}

/** What the page's global scope holds during these tests. */
interface PageGlobals {
  localizer: LocalizerApi;
  echoStates: string[];
}

interface AppUnderTest {
  page: Page;
  /** The instance's state directory: `localizer` commands given it drive this window's engine. */
  stateDirectory: string;
  close(): Promise<void>;
}

let cluster: TestCluster;
let laptop: Server;
let laptopPort: number;
const range = takeLocalizerRange();

async function openInBrowser(): Promise<AppUnderTest> {
  const stateDirectory = mkdtempSync(join(tmpdir(), 'ui-state-'));
  const harness: Harness = await startHarness({
    rendererDirectory: await buildRenderer(join(projectRoot, 'out/renderer-e2e')),
    kubeconfig: cluster.kubeconfigPath,
    stateDirectory,
    settings: { ipRange: range.cidr },
  });
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // As the app's window may: the specs check what "Copy environment as .env" put there.
  await page
    .context()
    .grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(harness.url).origin });
  await page.goto(harness.url);
  return {
    page,
    stateDirectory,
    close: async () => {
      await browser.close();
      await harness.close();
    },
  };
}

async function openInElectron(binary: string): Promise<AppUnderTest> {
  const stateDirectory = mkdtempSync(join(tmpdir(), 'ui-electron-'));
  const app: ElectronApplication = await _electron.launch({
    executablePath: binary,
    args: [join(projectRoot, 'out/main/index.js')],
    env: {
      ...process.env,
      KUBECONFIG: cluster.kubeconfigPath,
      LOCALIZER_STATE_DIR: stateDirectory,
      LOCALIZER_IP_RANGE: range.cidr,
      // No password prompt in tests: names stay off, as in the harness.
      LOCALIZER_NO_HELPER: '1',
    },
  });
  return { page: await app.firstWindow(), stateDirectory, close: () => app.close() };
}

const targets: { name: string; open: () => Promise<AppUnderTest>; skip: string | null }[] = [
  { name: 'Chromium + harness', open: openInBrowser, skip: null },
  {
    name: 'Electron app',
    open: () => openInElectron(electronBinary() ?? ''),
    skip: electronBinary()
      ? null
      : 'the Electron binary is not installed here (ELECTRON_SKIP_BINARY_DOWNLOAD)',
  },
];

beforeAll(async () => {
  requireSystemTools('chromium', 'sshd', 'utilLinux', 'kubectl', 'haproxy');
  mkdirSync(artifacts, { recursive: true });
  cluster = await startTestCluster({ scenario: 'demo' });
  laptopPort = await freePort();
  laptop = createServer((socket) =>
    socket
      .on('error', () => socket.destroy())
      .end('HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nlaptop'),
  );
  await new Promise<void>((resolve) => laptop.listen(laptopPort, '127.0.0.1', resolve));
});
afterAll(async () => {
  laptop.close();
  await cluster.stop();
  range.release();
});

for (const target of targets) {
  if (target.skip) console.log(`skipped: the window specs on the ${target.name}, because ${target.skip}`);
  describe.skipIf(target.skip !== null)(`the window (${target.name})`, () => {
    let app: AppUnderTest | undefined;
    beforeAll(async () => {
      app = await target.open();
    });
    afterAll(async () => app?.close());
    // A spec that fails midway leaves neither a dialog over the window nor an expose behind it,
    // so the next spec fails (or passes) on its own account.
    afterEach(async () => {
      if (!app) return;
      const p = app.page;
      if ((await p.getByRole('dialog').count()) > 0) await p.keyboard.press('Escape');
      const left = await p.evaluate(async () => {
        const { localizer } = globalThis as unknown as PageGlobals;
        const state = await localizer.getState();
        if (!state.ok) return [state.message];
        const exposes = state.value.tunnels.filter((t) => t.kind === 'expose');
        const stopped = await Promise.all(
          exposes.map((t) => localizer.stopExpose({ namespace: t.namespace, name: t.name })),
        );
        return stopped.flatMap((result) => (result.ok ? [] : [result.message]));
      });
      expect(left, 'exposes left by the spec should stop').toEqual([]);
      await expect
        .poll(() => p.getByRole('dialog').count(), { message: 'no dialog should stay open' })
        .toBe(0);
    });

    function page(): Page {
      if (!app) throw new Error(`the ${target.name} did not start`);
      return app.page;
    }

    /** Right-click web/api in Services, choose Expose: the dialog. */
    async function openExposeDialog(p: Page) {
      await p.getByRole('row', { name: 'web/api', exact: true }).click({ button: 'right' });
      await p.getByRole('menuitem', { name: 'Expose to a local port…' }).click();
      return p.getByRole('dialog', { name: 'Expose web/api to this machine' });
    }

    it('connects from the sidebar and shows every demo service with its state', async () => {
      const p = page();
      await p.getByRole('button', { name: 'Connect' }).click();
      await expect
        .poll(() => p.getByRole('status').first().textContent(), {
          timeout: 30_000,
          message: 'every service should become ready',
        })
        .toMatch(/^Connected: (\d+) of \1 services ready$/);
      const api = p.getByRole('row', { name: 'web/api', exact: true });
      await expect.poll(() => api.getByText('running').count()).toBe(1);
      await expect
        .poll(() => p.getByRole('row', { name: 'data/billing', exact: true }).textContent())
        .toContain('through the egress relay');
      expect(await p.getByRole('region', { name: 'Namespace web' }).getByRole('row').count()).toBeGreaterThan(
        2,
      );
      await p.screenshot({
        path: join(artifacts, `services-${target.name.split(' ')[0] ?? ''}.png`),
        fullPage: true,
      });
    });

    it('moves between the views with the arrow keys, as tabs do', async () => {
      const p = page();
      await p.getByRole('tab', { name: 'Services' }).focus();
      await p.keyboard.press('ArrowRight');
      expect(await p.getByRole('tab', { name: /^Tunnels/, selected: true }).count()).toBe(1);
      await p.keyboard.press('End');
      expect(await p.getByRole('tab', { name: 'Settings', selected: true }).count()).toBe(1);
      await p.keyboard.press('Home');
      expect(await p.getByRole('tab', { name: 'Services', selected: true }).count()).toBe(1);
      // Runs in the page; this file is typed for Node, so the page's document is described here.
      const focusedId = await p.evaluate(
        () =>
          (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document
            .activeElement?.id,
      );
      expect(focusedId, 'focus should follow the selected tab').toBe('tab-services');
    });

    it('narrows the services with search', async () => {
      const p = page();
      await p.getByRole('searchbox', { name: 'Search services' }).fill('kv');
      await expect.poll(() => p.getByRole('row', { name: 'data/kv', exact: true }).count()).toBe(1);
      expect(await p.getByRole('row', { name: 'web/api', exact: true }).count()).toBe(0);
      await p.getByRole('searchbox', { name: 'Search services' }).fill('');
    });

    it('exposes a service through the right-click dialog, refusing a bad port first', async () => {
      const p = page();
      const dialog = await openExposeDialog(p);
      // A takeover by default; scaling the workloads down is the other choice.
      expect(await dialog.getByRole('radio', { name: /^Take over/ }).isChecked()).toBe(true);
      expect(await dialog.getByRole('radio', { name: /^Scale down its workloads/ }).isChecked()).toBe(false);
      // Escape closes it without exposing anything, as Cancel does.
      await p.keyboard.press('Escape');
      await expect.poll(() => dialog.count(), { message: 'Escape should close the dialog' }).toBe(0);
      expect(await p.getByRole('row', { name: 'expose web/api', exact: true }).count()).toBe(0);
      await openExposeDialog(p);
      await dialog.getByLabel('Service port 8080 (to 8080): local port').fill('99999');
      await dialog.getByRole('button', { name: 'Expose' }).click();
      await expect.poll(() => dialog.getByText('Enter a port from 1 to 65535.').count()).toBe(1);
      await dialog.getByLabel('Service port 8080 (to 8080): local port').fill(String(laptopPort));
      await dialog.getByLabel(/Service port 9090/).fill(String(await freePort()));
      await p.screenshot({ path: join(artifacts, `expose-dialog-${target.name.split(' ')[0] ?? ''}.png`) });
      await dialog.getByRole('button', { name: 'Expose' }).click();
      const row = p.getByRole('row', { name: 'expose web/api', exact: true });
      await expect
        .poll(() => row.getByText('running').count(), { timeout: 60_000, message: 'the expose should run' })
        .toBe(1);
      const ip = String(
        field(cluster.store.get(resourceTypeOfKind('Service'), 'web', 'api'), 'spec', 'clusterIP'),
      );
      await expect
        .poll(async () => (await fetch(`http://${ip}:8080/`)).text(), {
          timeout: 20_000,
          message: 'calls to web/api should reach the laptop',
        })
        .toBe('laptop');
      expect(await row.textContent()).toContain(`8080 → 127.0.0.1:${String(laptopPort)}`);
      // What a takeover does not move is said where the user looks.
      expect(await row.textContent()).toContain('connections already open to its pods stay on them');
      await p.screenshot({
        path: join(artifacts, `tunnels-${target.name.split(' ')[0] ?? ''}.png`),
        fullPage: true,
      });
      await row.getByRole('button', { name: 'Stop exposing' }).click();
      await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(0);
    });

    it('exposes only requests with my header value, asking for the value first (personal)', async () => {
      const p = page();
      await p.getByRole('tab', { name: 'Services' }).click();
      const dialog = await openExposeDialog(p);
      await dialog.getByRole('radio', { name: /^Only my requests/ }).check();
      await dialog.getByLabel('Service port 8080 (to 8080): local port').fill(String(laptopPort));
      await dialog.getByLabel(/Service port 9090/).fill(String(await freePort()));
      await dialog.getByRole('button', { name: 'Expose' }).click();
      await expect.poll(() => dialog.getByText('Enter your value').count()).toBe(1);
      await dialog.getByLabel('Your value').fill('ui-dev');
      await p.screenshot({ path: join(artifacts, `expose-personal-${target.name.split(' ')[0] ?? ''}.png`) });
      await dialog.getByRole('button', { name: 'Expose' }).click();
      const row = p.getByRole('row', { name: 'expose web/api', exact: true });
      await expect
        .poll(() => row.getByText('running').count(), { timeout: 60_000, message: 'the expose should run' })
        .toBe(1);
      const ip = String(
        field(cluster.store.get(resourceTypeOfKind('Service'), 'web', 'api'), 'spec', 'clusterIP'),
      );
      expect(await (await fetch(`http://${ip}:8080/`, { headers: { 'x-dev': 'ui-dev' } })).text()).toBe(
        'laptop',
      );
      expect(
        await (await fetch(`http://${ip}:8080/`)).text(),
        'everyone else still reaches the pods',
      ).toContain('"namespace":"web"');
      expect(await row.textContent()).toContain('x-dev=ui-dev');
      expect(await row.textContent()).toContain('every other request goes to the service');
      await row.getByRole('button', { name: 'Stop exposing' }).click();
      await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(0);
    });

    it('is the instance the localizer command drives: list shows its tunnels, and an expose from a terminal appears in Tunnels', async () => {
      const p = page();
      // A terminal that knows no cluster: only the running instance does.
      const terminal = {
        LOCALIZER_STATE_DIR: app?.stateDirectory ?? '',
        KUBECONFIG: '',
        HOME: mkdtempSync(join(tmpdir(), 'ui-terminal-')),
      };
      const localizer = (args: string[]) =>
        run(process.execPath, [builtCli, ...args], { env: terminal, timeoutMs: 90_000 });
      const shown = async (): Promise<string[]> => {
        const state = await p.evaluate(() => (globalThis as unknown as PageGlobals).localizer.getState());
        if (!state.ok) throw new Error(state.message);
        return state.value.tunnels.map((t) => `${t.kind} ${t.namespace}/${t.name} ${t.status}`).sort();
      };
      const listed = async (): Promise<string[]> => {
        const result = await localizer(['list', '--json']);
        if (result.code !== 0) throw new Error(result.stderr);
        return (
          JSON.parse(result.stdout) as { kind: string; namespace: string; name: string; status: string }[]
        )
          .map((t) => `${t.kind} ${t.namespace}/${t.name} ${t.status}`)
          .sort();
      };
      expect(await listed()).toEqual(await shown());
      expect((await listed()).length).toBeGreaterThan(5);

      const exposed = await localizer(['expose', 'web/api', '--map', `${String(laptopPort)}:8080`]);
      expect(exposed.code, exposed.stdout + exposed.stderr).toBe(0);
      await p.getByRole('tab', { name: /^Tunnels/ }).click();
      const row = p.getByRole('row', { name: 'expose web/api', exact: true });
      await expect
        .poll(() => row.getByText('running').count(), {
          timeout: 10_000,
          message: 'the window should show it',
        })
        .toBe(1);
      expect(await row.textContent()).toContain(`8080 → 127.0.0.1:${String(laptopPort)}`);
      expect(await listed()).toContain('expose web/api running');
      const stopped = await localizer(['expose', 'web/api', '--stop']);
      expect(stopped.code, stopped.stderr).toBe(0);
      await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(0);
    });

    it('opens a project file, shows its plan, brings it up and down, and remembers it', async () => {
      const p = page();
      const directory = mkdtempSync(join(tmpdir(), 'ui-project-'));
      const file = join(directory, 'localizer.yaml');
      writeFileSync(
        file,
        `exposes:\n  - service: web/api\n    map: ["${String(laptopPort)}:8080"]\nrun:\n  - name: api\n    workload: web/api\n    command: npm run dev\n`,
      );
      await p.getByRole('tab', { name: 'Projects' }).click();
      const path = p.getByLabel('Project file');
      await path.fill(join(directory, 'missing.yaml'));
      await p.getByRole('button', { name: 'Open' }).click();
      await expect
        .poll(() => p.getByRole('alert').textContent(), { timeout: 10_000 })
        .toContain(`No project file at ${join(directory, 'missing.yaml')}`);

      await path.fill(file);
      await p.getByRole('button', { name: 'Open' }).click();
      const plan = p.getByLabel('Plan');
      await expect
        .poll(() => plan.textContent(), { timeout: 10_000 })
        .toContain(`expose     web/api: 8080 → 127.0.0.1:${String(laptopPort)} (takeover)`);
      expect(await p.getByText(`localizer up -f ${file}`).count(), 'its processes are for a terminal').toBe(
        1,
      );
      await p.getByRole('button', { name: 'Bring up' }).click();
      await expect
        .poll(() => p.getByLabel('What happened').textContent(), { timeout: 60_000 })
        .toContain('Exposed:');
      const exposed = async (): Promise<string[]> => {
        const state = await p.evaluate(() => (globalThis as unknown as PageGlobals).localizer.getState());
        if (!state.ok) throw new Error(state.message);
        return state.value.tunnels.filter((t) => t.kind === 'expose').map((t) => `${t.namespace}/${t.name}`);
      };
      expect(await exposed()).toEqual(['web/api']);
      const recent = p.getByRole('list', { name: 'Recent projects' });
      await expect
        .poll(() => recent.textContent(), { timeout: 5_000 })
        .toContain(`${basename(directory)} up`);
      expect(await plan.textContent(), 'the plan now says it is up').toContain(
        'unchanged  web/api is exposed',
      );
      await p.screenshot({ path: join(artifacts, `projects-${target.name.split(' ')[0] ?? ''}.png`) });

      await p.getByRole('button', { name: 'Bring down' }).click();
      await expect
        .poll(() => p.getByLabel('What happened').textContent(), { timeout: 30_000 })
        .toContain('served by its own pods again');
      expect(await exposed()).toEqual([]);
      await expect
        .poll(() => recent.textContent(), { timeout: 5_000 })
        .toContain(`${basename(directory)} down`);
    });

    it('says why an expose ended when someone else put the service’s selector back (a GitOps self-heal)', async () => {
      const p = page();
      const terminal = { LOCALIZER_STATE_DIR: app?.stateDirectory ?? '', KUBECONFIG: '' };
      const exposed = await run(
        process.execPath,
        [builtCli, 'expose', 'web/api', '--map', `${String(laptopPort)}:8080`],
        { env: terminal, timeoutMs: 90_000 },
      );
      expect(exposed.code, exposed.stdout + exposed.stderr).toBe(0);
      await p.getByRole('tab', { name: /^Tunnels/ }).click();
      const row = p.getByRole('row', { name: 'expose web/api', exact: true });
      await expect.poll(() => row.getByText('running').count(), { timeout: 10_000 }).toBe(1);
      // What `kubectl apply` of the checked-in manifest does to a taken-over selector.
      const selfHeal = await run('kubectl', [
        '--kubeconfig',
        cluster.kubeconfigPath,
        '-n',
        'web',
        'patch',
        'service',
        'api',
        '--type',
        'json',
        '-p',
        '[{"op":"replace","path":"/spec/selector","value":{"app":"api"}}]',
      ]);
      expect(selfHeal.code, selfHeal.stderr).toBe(0);
      const banner = p.getByRole('status', { name: 'Expose ended' });
      await expect
        .poll(() => banner.textContent(), { timeout: 20_000, message: 'the window should say why it ended' })
        .toMatch(/web\/api is no longer exposed\. Ended: the selector of web\/api was changed .*app=api/);
      expect(await row.count(), 'the ended expose leaves the list').toBe(0);
      await banner.getByRole('button', { name: 'Dismiss' }).click();
      expect(await banner.count()).toBe(0);
    });

    it('copies a service’s workload environment as .env from its context menu, rewritten for this machine', async () => {
      const p = page();
      await p.getByRole('tab', { name: 'Services' }).click();
      await p.getByRole('row', { name: 'web/api', exact: true }).click({ button: 'right' });
      await p.getByRole('menuitem', { name: 'Copy environment as .env' }).click();
      const status = p.getByRole('status').filter({ hasText: 'Copied' });
      await expect
        .poll(() => status.textContent(), {
          timeout: 20_000,
          message: 'the window should say what it copied',
        })
        .toMatch(/^Copied \d+ variables of web\/api as \.env: \d+ rewritten for this machine\.$/);
      // Runs in the page, which has a clipboard.
      const copied = await p.evaluate(() =>
        (
          globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
        ).navigator.clipboard.readText(),
      );
      const forward = await p.evaluate(() => (globalThis as unknown as PageGlobals).localizer.getState());
      const ip = forward.ok
        ? forward.value.tunnels.find((t) => t.kind === 'forward' && t.name === 'api')?.ip
        : null;
      expect(copied).toContain(`API_SERVICE_HOST=${ip ?? 'no forward'}`);
      expect(copied).toContain('API_SERVICE_PORT=8080');
      expect(copied).toMatch(/^# Deployment web\/api, container api/);
      if (target.name.startsWith('Chromium')) {
        // The browser preview has no terminal to open, and says what to do instead.
        await p.getByRole('row', { name: 'web/api', exact: true }).click({ button: 'right' });
        await p.getByRole('menuitem', { name: 'Open a terminal with this environment' }).click();
        await expect
          .poll(() => p.getByRole('alert').textContent())
          .toContain('localizer run web/api -- $SHELL');
      }
    });

    it('shows a service drop when its only pod is killed, and its recovery', async () => {
      const p = page();
      await p.getByRole('tab', { name: 'Services' }).click();
      await p.evaluate(() => {
        // Runs in the page, where the app's API is installed on the window.
        const page = globalThis as unknown as PageGlobals;
        page.echoStates = [];
        page.localizer.onState((state) => {
          const echo = state.tunnels.find(
            (t) => t.kind === 'forward' && t.namespace === 'tools' && t.name === 'echo',
          );
          if (echo && page.echoStates.at(-1)?.split('@')[0] !== echo.status)
            page.echoStates.push(`${echo.status}@${new Date().toISOString().slice(17, 23)}`);
        });
      });
      // The live pod: one still terminating from an earlier change would take the signal and
      // change nothing, and the test would wait for a drop that never happens.
      const pod = cluster.store
        .list(resourceTypeOfKind('Pod'), 'tools')
        .find(
          (candidate) =>
            candidate.metadata.name?.startsWith('echo-') && !candidate.metadata.deletionTimestamp,
        );
      const killedAt = new Date().toISOString().slice(17, 23);
      expect(
        // Back after 1.5 s: a drop a user sees, whatever the crash backoff of the moment.
        cluster.faults.killContainer('tools', pod?.metadata.name ?? '', undefined, 'SIGKILL', 1500),
        'the echo container to kill',
      ).toBe(true);
      const states = () =>
        p.evaluate(() =>
          (globalThis as unknown as PageGlobals).echoStates.map((s) => s.split('@')[0]).join(' → '),
        );
      const timeline = () => p.evaluate(() => (globalThis as unknown as PageGlobals).echoStates.join(' → '));
      await expect
        .poll(states, { timeout: 30_000, message: 'tools/echo should drop and recover' })
        .toMatch(/waiting → running$/)
        .catch(async (error: unknown) => {
          // What the window saw, with times, against when the container was killed.
          throw new Error(`${String(error)} (killed at ${killedAt}; the window saw ${await timeline()})`);
        });
      await expect
        .poll(() => p.getByRole('row', { name: 'tools/echo', exact: true }).getByText('running').count())
        .toBe(1);
      // A call through it goes through the API server's port-forward; Tunnels says which one.
      const state = await p.evaluate(() => (globalThis as unknown as PageGlobals).localizer.getState());
      if (!state.ok) throw new Error(state.message);
      const echoIp = state.value.tunnels.find((t) => t.kind === 'forward' && t.name === 'echo')?.ip ?? '';
      expect((await echoRoundTrip(echoIp, 7007, Buffer.from('via?'))).toString()).toBe('via?');
      await p.getByRole('tab', { name: /^Tunnels/ }).click();
      await expect
        .poll(() => p.getByRole('row', { name: 'forward tools/echo', exact: true }).textContent(), {
          timeout: 10_000,
          message: 'Tunnels should say which port-forward transport the echo forward uses',
        })
        .toContain('via SPDY over WebSocket');
    });
  });
}
