// Attacks on the portal in real Chromium (Debian's `chromium` via playwright-core, never a
// downloaded browser), the CSP in force (no bypassCSP): an open redirect after sign-in, and hostile
// strings put in by real clients — crane labels a scratch image with `javascript:` and `data:` URLs,
// markup, a right-to-left override and a 64 KiB value; helm packages a chart whose Chart.yaml
// links and README hold `javascript:`, `data:` and relative URLs and remote images, and `berth helm
// push` stores it. Nothing may run (any dialog fails), no request may leave Berth's origin, and
// no link on the page may lead anywhere but http(s).
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { runBerthCli, type RunningBerth } from "../support/berth.ts";
import { berthFor, helmClient } from "../support/helm.ts";
import { tarOneFile } from "../support/oci-layout.ts";
import { requireTool, runOk } from "../support/tools.ts";

const RLO = "\u202E";
const LABELS: Record<string, string> = {
  "build.dockerfile": "javascript:alert(1)",
  "org.opencontainers.image.source": "data:text/html,<script>alert(2)</script>",
  "org.opencontainers.image.url": " javascript:alert(3)",
  "build.user": `"><img src=x onerror=alert(4)>`,
  "build.sha": `${RLO}fdp.exe`,
  evil: "<script>alert(5)</script>",
  huge: "A".repeat(64 * 1024),
};
const README = `# Hostile

[js](javascript:alert(6)) [data](data:text/html,<script>alert(7)</script>) [relative](../../v2/_catalog)
[entity](jav&#x09;ascript:alert(8)) <javascript:alert(9)>

![remote](https://tracker.example/pixel.png) ![data](data:image/svg+xml,<svg onload=alert(10)>)

<img src=x onerror=alert(11)> <iframe src="https://tracker.example/"></iframe>
`;

interface Watched {
  page: Page;
  dialogs: string[];
  offsite: string[];
}

async function watch(context: BrowserContext, berth: RunningBerth): Promise<Watched> {
  const origin = new URL(berth.url).origin;
  const watched: Watched = { page: await context.newPage(), dialogs: [], offsite: [] };
  // Every request to another origin is recorded and answered here: nothing reaches the network.
  await context.route((url) => url.origin !== origin, (route) => {
    watched.offsite.push(route.request().url());
    void route.fulfill({ status: 200, contentType: "text/html", body: "<h1>offsite</h1>" });
  });
  watched.page.on("dialog", (dialog) => {
    watched.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return watched;
}

async function signIn(page: Page, berth: RunningBerth, next?: string): Promise<void> {
  await page.goto(`${berth.url}/sign-in${next === undefined ? "" : `?next=${encodeURIComponent(next)}`}`);
  await page.getByLabel("User name, service principal ID or token name").fill(berth.username);
  await page.getByLabel("Password, secret or token").fill(berth.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.pathname !== "/sign-in");
}

/** Every link's resolved href on the page: only http(s), never javascript: or data:. */
async function assertLinksSafe(page: Page, where: string): Promise<void> {
  const hrefs = await page.evaluate(() => Array.from(document.querySelectorAll("a[href], area[href]")).map((a) => (a as HTMLAnchorElement).href));
  const bad = hrefs.filter((href) => !/^https?:/i.test(href));
  assert.deepEqual(bad, [], `${where}: links that are not http(s)`);
  const loaded = await page.evaluate(() => Array.from(document.querySelectorAll("img[src], iframe, object, embed")).map((e) => e.outerHTML.slice(0, 200)));
  assert.deepEqual(loaded, [], `${where}: elements that load content`);
}

/** crane reads each --label as one CSV field: quote it, so commas and quotes stay in the value. */
function csvField(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "berth-attack-portal-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("attack (Chromium): /sign-in?next=/\\<host> sends the signed-in user to another site", { timeout: 180_000 }, async (t) => {
  const executablePath = requireTool(t, "chromium");
  if (!executablePath) return;
  const berth = await berthFor(t);
  const browser = await chromium.launch({ executablePath, headless: true });
  t.after(() => browser.close());
  const left: string[] = [];
  for (const next of ["/\\evil.example/phish", "/\t/evil.example/phish", "/%5Cevil.example/phish"]) {
    const context = await browser.newContext();
    const w = await watch(context, berth);
    await signIn(w.page, berth, next);
    if (new URL(w.page.url()).origin !== new URL(berth.url).origin || w.offsite.length > 0) left.push(`next=${JSON.stringify(next)} → ${w.page.url()}`);
    await context.close();
  }
  assert.deepEqual(left, [], "signing in left Berth for another site");
});

test("attack (Chromium): hostile labels (crane) and a hostile chart (helm package, berth helm push) run nothing, load nothing, link nowhere but http(s)", { timeout: 300_000 }, async (t) => {
  const executablePath = requireTool(t, "chromium");
  const crane = requireTool(t, "crane");
  const helm = await helmClient(t, "v4");
  if (!executablePath || !crane || !helm) return;
  const dir = await scratch(t);
  const berth = await berthFor(t);

  const env = { ...process.env, HOME: dir, DOCKER_CONFIG: join(dir, ".docker") };
  const craneOk = (args: string[], input?: string) => runOk(crane, [...args, "--insecure"], { env, cwd: dir, ...(input === undefined ? {} : { input }) });
  await craneOk(["auth", "login", berth.host, "-u", berth.username, "--password-stdin"], berth.password);
  await writeFile(join(dir, "layer.tar"), tarOneFile("hello.txt", Buffer.from("hello\n")));
  await craneOk(["append", "-f", join(dir, "layer.tar"), "-t", `${berth.host}/hostile/labels:v1`]);
  await craneOk(["mutate", `${berth.host}/hostile/labels:v1`, ...Object.entries(LABELS).flatMap(([k, v]) => ["--label", csvField(`${k}=${v}`)]), "-t", `${berth.host}/hostile/labels:v1`]);

  const chartDir = join(dir, "chart", "hostile");
  await mkdir(join(chartDir, "templates"), { recursive: true });
  await writeFile(join(chartDir, "Chart.yaml"), [
    "apiVersion: v2",
    "name: hostile",
    "version: 0.1.0",
    `description: "${RLO}gnp.exe <script>alert(12)</script>"`,
    "home: javascript:alert(13)",
    "icon: https://tracker.example/icon.png",
    "sources:",
    "  - javascript:alert(14)",
    "  - data:text/html,<script>alert(15)</script>",
    "maintainers:",
    "  - name: <img src=x onerror=alert(16)>",
    "    url: javascript:alert(17)",
    "",
  ].join("\n"));
  await writeFile(join(chartDir, "values.yaml"), `note: "<script>alert(18)</script>"\n`);
  await writeFile(join(chartDir, "README.md"), README);
  await helm.run(["package", chartDir, "--destination", dir], { cwd: dir });
  const pushed = await runBerthCli(["helm", "push", join(dir, "hostile-0.1.0.tgz"), "--server", berth.url, "--username", berth.username, "--password", berth.password]);
  assert.equal(pushed.code, 0, pushed.stderr);

  const browser = await chromium.launch({ executablePath, headless: true });
  t.after(() => browser.close());
  const context = await browser.newContext();
  const w = await watch(context, berth);
  await signIn(w.page, berth);

  const response = await w.page.goto(`${berth.url}/r/hostile/labels/-/tag/v1`);
  assert.match(response?.headers()["content-security-policy"] ?? "", /default-src 'none'/);
  await w.page.getByText("<script>alert(5)</script>").first().waitFor();
  await w.page.getByText(LABELS["build.user"]!).first().waitFor();
  await assertLinksSafe(w.page, "tag page");
  await w.page.goto(`${berth.url}/r/hostile/labels`);
  await w.page.getByRole("heading", { name: /hostile\/labels/ }).first().waitFor();
  await assertLinksSafe(w.page, "repository page");
  await w.page.goto(`${berth.url}/`);
  await w.page.getByRole("link", { name: "hostile/labels", exact: true }).waitFor();
  await assertLinksSafe(w.page, "repository list");

  await w.page.goto(`${berth.url}/charts/repo/hostile`);
  await w.page.getByText("<img src=x onerror=alert(11)>", { exact: false }).first().waitFor();
  await assertLinksSafe(w.page, "chart page (README)");
  await w.page.getByRole("tab", { name: "Default values" }).click();
  await w.page.getByText("alert(18)", { exact: false }).first().waitFor();

  assert.deepEqual(w.dialogs, [], "a hostile string ran");
  assert.deepEqual(w.offsite, [], "the portal made requests to other origins");
});
