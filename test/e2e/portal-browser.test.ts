// The portal in real Chromium (Debian's `chromium`, driven by playwright-core; never a browser
// Playwright downloads) against a started Berth filled by real clients: buildah builds the seed's
// image (three build labels; notation signs it) and a hostile one, skopeo pushes them and a two-platform index, helm
// pushes a chart the OCI way, `berth helm push` one the classic way, and one version both ways.
// The browser signs in, finds each kind, reads the labels, the classic chart's versions, README
// and `helm repo add`; an acrpull identity sees no delete button and its forged delete is refused;
// a call without the CSRF token is refused; hostile strings stay text (any dialog fails the test);
// axe-core finds no serious or critical violation on any page; every page is photographed into
// results/portal/ (git-ignored). Lifecycle through the page: a retention policy previewed against
// tags oras pushed and run, a quota's usage and the push it refuses, and soft delete: tags deleted
// in the page, restored (once with force), and pulled again by oras byte for byte. A repository
// with more tags, or more manifests, than a page is walked by the server's cursor (Next, Previous).
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { QuotaList } from "../../src/api-contract/quotas.ts";
import { bytes } from "../../portal/src/format.ts";
import { repoRoot, runBerthCli, type RunningBerth } from "../support/berth.ts";
import { berthFor, helmClient, plainHttp, registryLogin, type ClientRunner } from "../support/helm.ts";
import { OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, testBlob } from "../support/oci-images.ts";
import { buildMultiPlatformLayout } from "../support/oci-layout.ts";
import { requireTool, run, runOk } from "../support/tools.ts";

const SEED = {
  user: "octocat",
  dockerfile: "https://github.com/example/berth-seed/blob/0123456789abcdef0123456789abcdef01234567/Dockerfile",
  sha: "0123456789abcdef0123456789abcdef01234567",
};
const HOSTILE_LABEL = "<img src=x onerror=alert(1)>";
/** A 1×1 PNG as a data: URL: the one kind of chart icon (with same-origin) the portal loads. */
const ICON = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/** 3,000 lines, ~100 KiB: past the 64 KiB a page shows before "Show all". */
const LONG_VALUES = Array.from({ length: 3000 }, (_, i) => `key${String(i).padStart(4, "0")}: "a value long enough to fill the line ${i}"`).join("\n") + "\nlastKey: the-very-end\n";
/** ~600 KiB: past the 512 KiB the server sends of a README. */
const HUGE_README = `# OCI demo\n\n${Array.from({ length: 12_000 }, (_, i) => `Line ${i} of a README longer than the server sends.`).join("\n\n")}\n\nREADME-END\n`;
const README = `# Classic chart

Some **bold** text and a [link](https://example.com/docs) and a [bad link](javascript:alert(2)).

<script>alert(3)</script>

![remote image](https://example.com/tracker.png)
`;
const SHOTS = join(repoRoot, "results", "portal");
const PULLER = { name: "puller", password: "puller-password-1" };

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "berth-portal-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** buildah bud (FROM scratch, vfs, chroot) into an OCI layout, then skopeo copy into Berth. */
async function buildAndPush(tools: { buildah: string; skopeo: string }, dir: string, berth: RunningBerth, name: string, dockerfile: string, to: string): Promise<string> {
  const context = join(dir, `${name}-context`);
  await mkdir(context, { recursive: true });
  await writeFile(join(context, "Dockerfile"), dockerfile);
  await writeFile(join(context, "hello.txt"), `hello from ${name}\n`);
  const storage = ["--storage-driver", "vfs", "--root", join(dir, "storage"), "--runroot", join(dir, "run")];
  const env = { BUILDAH_ISOLATION: "chroot", HOME: dir };
  await runOk(tools.buildah, [...storage, "bud", "--isolation", "chroot", "--format", "oci", "-t", `localhost/${name}:dev`, context], { env, cwd: dir });
  await runOk(tools.buildah, [...storage, "push", `localhost/${name}:dev`, `oci:${join(dir, `${name}-layout`)}:dev`], { env, cwd: dir });
  const digestFile = join(dir, `${name}.digest`);
  await runOk(tools.skopeo, ["--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-creds", `${berth.username}:${berth.password}`, "--digestfile", digestFile, `oci:${join(dir, `${name}-layout`)}:dev`, `docker://${berth.host}/${to}`], { env, cwd: dir });
  return (await readFile(digestFile, "utf8")).trim();
}

/** A notation test certificate and a trust policy trusting it, for Berth to verify signatures with. */
async function notationTrust(notation: string, dir: string): Promise<{ env: Record<string, string>; berthEnv: Record<string, string> }> {
  const env = { HOME: dir, XDG_CONFIG_HOME: join(dir, ".config"), NOTATION_USERNAME: "", NOTATION_PASSWORD: "" };
  await runOk(notation, ["cert", "generate-test", "--default", "berth-signer"], { env });
  const certFile = join(dir, ".config/notation/localkeys/berth-signer.crt");
  const subject = new X509Certificate(await readFile(certFile)).subject.split("\n").join(", ");
  const trustStore = join(dir, "trust-store");
  await mkdir(join(trustStore, "x509/ca/berth-signer"), { recursive: true });
  await copyFile(certFile, join(trustStore, "x509/ca/berth-signer/berth-signer.crt"));
  const policyFile = join(dir, "trustpolicy.oci.json");
  await writeFile(policyFile, JSON.stringify({
    version: "1.0",
    trustPolicies: [{ name: "portal", registryScopes: ["*"], signatureVerification: { level: "strict" }, trustStores: ["ca:berth-signer"], trustedIdentities: [`x509.subject: ${subject}`] }],
  }));
  return { env, berthEnv: { BERTH_PROVENANCE_TRUST_POLICY: policyFile, BERTH_PROVENANCE_TRUST_STORE: trustStore } };
}

/** `helm create`, our Chart.yaml (and README), `helm package`: the .tgz path. */
async function chart(helm: ClientRunner, name: string, version: string, readme?: string, more: { icon?: string; values?: string } = {}): Promise<string> {
  const base = await mkdtemp(join(helm.dir, `${name}-${version}-`));
  await helm.run(["create", name], { cwd: base });
  await writeFile(join(base, name, "Chart.yaml"), `apiVersion: v2\nname: ${name}\ndescription: The ${name} chart\ntype: application\nversion: ${version}\nappVersion: "2.0.0"\n${more.icon ? `icon: ${more.icon}\n` : ""}`);
  if (readme) await writeFile(join(base, name, "README.md"), readme);
  if (more.values) await writeFile(join(base, name, "values.yaml"), more.values);
  await helm.run(["package", name, "--destination", base], { cwd: base });
  return join(base, `${name}-${version}.tgz`);
}

async function classicPush(berth: RunningBerth, tgz: string): Promise<void> {
  const result = await runBerthCli(["helm", "push", tgz, "--server", berth.url, "--username", berth.username, "--password", berth.password]);
  assert.equal(result.code, 0, result.stderr);
}

async function fill(t: TestContext): Promise<{ berth: RunningBerth; helm: ClientRunner } | null> {
  const buildah = requireTool(t, "buildah");
  const skopeo = requireTool(t, "skopeo");
  const notation = requireTool(t, "notation");
  const helm = await helmClient(t, "v4");
  if (!buildah || !skopeo || !notation || !helm) return null;
  const dir = await scratch(t);
  const trust = await notationTrust(notation, dir);
  // Webhooks to this machine's receiver (the lifecycle page's ping): allowed for this test only.
  // Soft delete on (a day), for the repository page's "Recently deleted"; retention only on demand.
  const berth = await berthFor(t, { env: { ...trust.berthEnv, BERTH_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1", BERTH_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: "true", BERTH_DELETION_RESTORABLE_FOR: "86400", BERTH_RETENTION_INTERVAL: "0", BERTH_RETENTION_GRACE_PERIOD: "0" } });
  const seed = await buildAndPush({ buildah, skopeo }, dir, berth, "seed", `FROM scratch\nLABEL build.user=${SEED.user} build.dockerfile=${SEED.dockerfile} build.sha=${SEED.sha}\nCOPY hello.txt /\n`, "seed/app:dev");
  await runOk(notation, ["sign", "--insecure-registry", "--force-referrers-tag=false", "-u", berth.username, "-p", berth.password, `${berth.host}/seed/app@${seed}`], { env: trust.env });
  // Registry-side metadata about the seed image, changed once (its history: not set → team-a → team-b), and a hostile value.
  for (const [key, value] of [["owner", "team-a"], ["owner", "team-b"], ["note", HOSTILE_LABEL]] as const) {
    const res = await fetch(`${berth.url}/api/v1/metadata/seed/app@${seed}/${key}`, { method: "PUT", headers: { authorization: berth.basicAuth, "content-type": "application/json" }, body: JSON.stringify({ value }) });
    assert.equal(res.status, 200, await res.text());
  }
  await buildAndPush({ buildah, skopeo }, dir, berth, "hostile", `FROM scratch\nLABEL evil="${HOSTILE_LABEL}" build.dockerfile="javascript:alert(2)"\nCOPY hello.txt /\n`, "hostile/app:v1");
  const layout = await buildMultiPlatformLayout(join(dir, "multi"), "v1");
  await runOk(skopeo, ["--insecure-policy", "copy", "--all", "--dest-tls-verify=false", "--dest-creds", `${berth.username}:${berth.password}`, `oci:${layout.dir}:v1`, `docker://${berth.host}/multi/app:v1`]);

  await registryLogin(helm, berth);
  // The OCI chart's values.yaml is longer than the 64 KiB the page shows at first, its README longer
  // than the 512 KiB the server sends; the classic
  // chart's icon is a data: URL (shown), the both-ways chart's a remote URL (a placeholder instead).
  await helm.run(["push", await chart(helm, "ocidemo", "0.1.0", HUGE_README, { values: LONG_VALUES }), `oci://${berth.host}/charts`, ...plainHttp]);
  await classicPush(berth, await chart(helm, "classic", "1.0.0", README, { icon: ICON }));
  const both = await chart(helm, "twoway", "0.2.0", undefined, { icon: "https://example.com/twoway.png" });
  await classicPush(berth, both);
  await helm.run(["push", both, `oci://${berth.host}/repo`, ...plainHttp]);

  const created = await fetch(`${berth.url}/api/v1/users`, {
    method: "POST",
    headers: { authorization: berth.basicAuth, "content-type": "application/json" },
    body: JSON.stringify({ name: PULLER.name, roles: ["acrpull"], password: PULLER.password }),
  });
  assert.equal(created.status, 201, await created.text());
  return { berth, helm };
}

interface Watched {
  page: Page;
  dialogs: string[];
  cspReports: string[];
  /** Every request for another origin (answered with an abort): the portal works offline. */
  offsite: string[];
  /** Every call to Berth's APIs, as `METHOD /path`, to check against docs/api.md. */
  calls: string[];
}

async function open(context: BrowserContext, berth: RunningBerth): Promise<Watched> {
  const page = await context.newPage();
  const origin = new URL(berth.url).origin;
  const watched: Watched = { page, dialogs: [], cspReports: [], offsite: [], calls: [] };
  await context.route((url) => url.protocol.startsWith("http") && url.origin !== origin, (route) => {
    watched.offsite.push(route.request().url());
    void route.abort();
  });
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.origin === origin && /^\/(api|v2|helm)\//.test(url.pathname)) watched.calls.push(`${request.method()} ${url.pathname}`);
  });
  page.on("dialog", (dialog) => {
    watched.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) watched.cspReports.push(message.text());
  });
  return watched;
}

async function signIn(page: Page, berth: RunningBerth, username: string, password: string): Promise<void> {
  await page.goto(`${berth.url}/sign-in`);
  await page.getByLabel("User name, service principal ID or token name").fill(username);
  await page.getByLabel("Password, secret or token").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  // exact: the sign-in page says "You are signed in as …" for a moment before it moves on.
  await page.getByText(`Signed in as ${username}`, { exact: true }).waitFor();
}

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/** The endpoints docs/api.md documents (its `### \`METHOD /path\`` headings), as patterns for `METHOD /path`. */
async function documentedEndpoints(): Promise<RegExp[]> {
  const doc = await readFile(join(repoRoot, "docs", "api.md"), "utf8");
  return [...doc.matchAll(/^### `([A-Z]+) ([^`]+)`$/gm)].map(([, method, path]) => {
    const pattern = path!.split(/(\{[^}]+\})/).map((part) => (part.startsWith("{") ? (part.endsWith("...}") ? ".+" : "[^/]+") : part.replace(/[.*+?^$()|[\]\\]/g, "\\$&"))).join("");
    return new RegExp(`^${method} ${pattern}$`);
  });
}

/** Tab (Shift+Tab with `back`; at most `max` times) until the focused element's name matches: the page driven by the keyboard alone. */
async function tabTo(page: Page, name: RegExp, { back = false, max = 60 } = {}): Promise<void> {
  const focused = () => page.evaluate(() => {
    const e = document.activeElement as HTMLElement | null;
    if (!e || e === document.body) return "";
    const label = (e as HTMLInputElement).labels?.[0]?.textContent;
    return (e.getAttribute("aria-label") ?? label ?? e.textContent ?? "").replace(/\s+/g, " ").trim();
  });
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
    const now = await focused();
    if (name.test(now)) return;
    seen.push(now);
  }
  assert.fail(`no focusable element named ${name} within ${max} tabs; focused in turn: ${JSON.stringify(seen)}`);
}

/** Whether the focused element draws a focus ring (the portal's :focus-visible outline). */
async function focusRing(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const e = document.activeElement;
    if (!e || e === document.body) return false;
    const style = getComputedStyle(e);
    return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  });
}

/** axe-core on the page as it stands: no violation of impact serious or critical. */
async function assertAccessible(page: Page, name: string): Promise<void> {
  await page.addScriptTag({ path: axePath });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${name}: axe found serious or critical violations`);
}

test("the portal in Chromium: sign in, every kind listed, labels, charts both ways, permissions, CSRF, hostile strings, axe, screenshots", { timeout: 600_000 }, async (t) => {
  const executablePath = requireTool(t, "chromium");
  const oras = requireTool(t, "oras");
  if (!executablePath || !oras) return;
  const filled = await fill(t);
  if (!filled) return;
  const { berth } = filled;
  await mkdir(SHOTS, { recursive: true });
  const browser: Browser = await chromium.launch({ executablePath, headless: true });
  t.after(() => browser.close());

  // -- as the admin, with the portal's CSP in force
  const admin = await browser.newContext();
  const a = await open(admin, berth);
  const page = a.page;

  await t.test("the CSP holds: no inline script, and the page loads without any CSP report", async () => {
    const res = await page.goto(`${berth.url}/sign-in`);
    assert.match(res?.headers()["content-security-policy"] ?? "", /script-src 'self'/);
    assert.equal(await page.evaluate(() => document.querySelectorAll("script:not([src])").length), 0);
  });

  await t.test("signs in with the admin password and lands on the repositories page", async () => {
    await signIn(page, berth, berth.username, berth.password);
    await page.getByRole("heading", { name: "Repositories" }).waitFor();
  });

  await t.test("the repository list shows each kind; search by name as you type narrows it", async () => {
    const row = (name: string) => page.getByRole("row").filter({ has: page.getByRole("link", { name, exact: true }) });
    await row("seed/app").waitFor();
    assert.match(await row("seed/app").innerText(), /Container image/);
    assert.match(await row("multi/app").innerText(), /Multi-platform image/);
    assert.match(await row("charts/ocidemo").innerText(), /Helm chart \(OCI\)/);
    assert.match(await row("repo/classic").innerText(), /Helm chart \(classic\)/);
    assert.match(await row("repo/twoway").innerText(), /Helm chart \(classic and OCI\)/);
    assert.match(await row("seed/app").innerText(), /0123456/, "the newest build's commit in the list");
    await page.getByLabel("Name contains").fill("multi");
    await page.getByText("1 repository").waitFor();
    assert.equal(await row("seed/app").count(), 0);
    assert.equal(await row("multi/app").count(), 1);
    // Each kind found by typing its name (the query goes to the server as you type).
    const kinds: [string, RegExp][] = [["seed/app", /Container image/], ["multi/app", /Multi-platform image/], ["charts/ocidemo", /Helm chart \(OCI\)/], ["repo/classic", /Helm chart \(classic\)/], ["repo/twoway", /Helm chart \(classic and OCI\)/]];
    for (const [name, kind] of kinds) {
      await page.getByLabel("Name contains").fill("");
      await page.getByLabel("Name contains").pressSequentially(name);
      await page.getByText("1 repository").waitFor();
      assert.match(await row(name).innerText(), kind, `${name} found by search`);
      assert.equal(new URL(page.url()).searchParams.get("q"), name, "the query is in the URL");
    }
  });

  await t.test("opens the image and reads its three labels as people read them", async () => {
    await page.goto(`${berth.url}/`);
    await page.getByRole("link", { name: "seed/app", exact: true }).click();
    await page.getByRole("heading", { name: "dev" }).waitFor();
    assert.ok((await page.getByText(`docker pull ${berth.host}/seed/app:dev`).count()) === 1, "the docker pull command");
    assert.equal(await page.getByRole("button", { name: "Delete tag dev" }).count(), 1, "the admin may delete");
    assert.match(await page.locator(".card").filter({ hasText: "dev" }).first().innerText(), /\bsigned\b/);
    await page.getByRole("link", { name: "dev", exact: true }).click();
    await page.getByRole("button", { name: "Delete this manifest" }).waitFor();
    await page.locator('[data-label="build.user"]').waitFor();
    assert.equal(await page.locator('[data-label="build.user"]').innerText(), SEED.user);
    const sha = page.locator('[data-label="build.sha"] abbr');
    assert.equal(await sha.innerText(), SEED.sha.slice(0, 7));
    assert.equal(await sha.getAttribute("title"), SEED.sha);
    assert.equal(await page.locator('[data-label="build.dockerfile"] a').getAttribute("href"), SEED.dockerfile);
    const signature = page.locator("[data-signature]");
    await signature.first().waitFor();
    assert.match(await signature.first().innerText(), /notation signature .*: verified/);
    assert.equal(await page.getByRole("tree", { name: "Referrers" }).getByRole("treeitem").filter({ hasText: "signature" }).count(), 1, "the signature in the referrers tree");
    // The registry-side metadata: each key's value, and its history (who, old → new), as text.
    const metadata = page.getByRole("table", { name: "Registry metadata" });
    await metadata.waitFor();
    assert.equal(await metadata.getByRole("row", { name: /owner/ }).getByRole("cell").innerText(), "team-b");
    assert.equal(await metadata.getByRole("row", { name: /note/ }).getByRole("cell").innerText(), HOSTILE_LABEL, "a hostile value is text");
    const changes = page.locator('[data-metadata-change="owner"]');
    assert.equal(await changes.count(), 2);
    assert.match(await changes.first().innerText(), /admin\s+owner v2\s+team-a → team-b/);
    assert.match(await changes.last().innerText(), /admin\s+owner v1\s+\(not set\) → team-a/);
    await page.screenshot({ path: join(SHOTS, "manifest.png"), fullPage: true });
  });

  await t.test("a hostile label is text, and a javascript: Dockerfile URL is no link", async () => {
    await page.goto(`${berth.url}/r/hostile/app/-/tag/v1`);
    await page.getByText(HOSTILE_LABEL, { exact: true }).waitFor();
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    assert.equal(await page.locator('a[href^="javascript:"]').count(), 0);
  });

  await t.test("the charts page lists every chart version, each marked classic, OCI or both", async () => {
    await page.goto(`${berth.url}/charts`);
    const version = (repo: string, v: string) => page.locator(`tr[data-chart="${repo}"][data-version="${v}"]`);
    await version("repo/classic", "1.0.0").waitFor();
    assert.match(await version("repo/classic", "1.0.0").innerText(), /classic/);
    assert.doesNotMatch(await version("repo/classic", "1.0.0").innerText(), /OCI/);
    assert.match(await version("charts/ocidemo", "0.1.0").innerText(), /\bOCI\b/);
    assert.match(await version("repo/twoway", "0.2.0").innerText(), /classic and OCI/);
  });

  await t.test("the classic chart's page: versions, README rendered safely, the helm repo add command", async () => {
    await page.getByRole("link", { name: "repo/classic" }).first().click();
    await page.locator('tr[data-version="1.0.0"]').waitFor();
    await page.getByRole("heading", { name: "Classic chart" }).waitFor();
    assert.equal(await page.locator(".markdown strong").innerText(), "bold");
    assert.equal(await page.locator('.markdown a[href="https://example.com/docs"]').count(), 1);
    assert.equal(await page.locator('.markdown a[href^="javascript:"]').count(), 0);
    assert.ok((await page.locator(".markdown").innerText()).includes("<script>alert(3)</script>"), "raw HTML shown as text");
    assert.equal(await page.locator(".markdown script, .markdown img").count(), 0, "no script, no image loaded");
    assert.equal(await page.getByText(`helm repo add repo ${berth.url}/helm/v1/repo`, { exact: true }).count(), 1);
    assert.equal(await page.locator('[data-way="oci"]').count(), 0, "a classic-only version offers no OCI command");
    await page.getByRole("tab", { name: "Default values" }).click();
    await page.getByLabel("Find in values").fill("replicaCount");
    assert.match(await page.locator("pre.values").innerText(), /^\s*\d+\s+replicaCount: 1$/m, "helm create's values.yaml, filtered to the line");
    // Its icon is a data: URL: shown, and loaded under the CSP (img-src 'self' data:).
    const icon = page.locator('img[data-icon="shown"]');
    assert.equal(await icon.getAttribute("src"), ICON);
    assert.equal(await icon.evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth), 1);
  });

  await t.test("the both-ways chart offers both commands; its remote icon is not loaded (a placeholder instead)", async () => {
    await page.goto(`${berth.url}/charts/repo/twoway`);
    await page.locator('[data-way="classic"]').waitFor();
    assert.equal(await page.getByText(`helm pull oci://${berth.host}/repo/twoway --version 0.2.0`, { exact: true }).count(), 1);
    assert.equal(await page.locator('[data-icon="placeholder"]').count(), 1);
    assert.equal(await page.locator("img").count(), 0, "no image element at all: nothing asks example.com");
  });

  await t.test("a chart repository's page gives each tag the commands of each way its version is stored", async () => {
    await page.goto(`${berth.url}/r/repo/classic`);
    await page.locator('[data-way="classic"]').waitFor();
    assert.equal(await page.getByText(`helm repo add repo ${berth.url}/helm/v1/repo`, { exact: true }).count(), 1);
    assert.equal(await page.getByText("helm install my-classic repo/classic --version 1.0.0", { exact: true }).count(), 1);
    assert.equal(await page.locator('[data-way="oci"]').count(), 0, "stored only the classic way");
    await page.goto(`${berth.url}/r/repo/twoway`);
    await page.locator('[data-way="classic"]').waitFor();
    assert.equal(await page.getByText(`helm pull oci://${berth.host}/repo/twoway --version 0.2.0`, { exact: true }).count(), 1);
    await page.goto(`${berth.url}/r/charts/ocidemo`);
    await page.locator('[data-way="oci"]').waitFor();
    assert.equal(await page.locator('[data-way="classic"]').count(), 0, "stored only the OCI way");
  });

  await t.test("a values.yaml over 64 KiB shows its start, and all of it on request", async () => {
    await page.goto(`${berth.url}/charts/charts/ocidemo`);
    await page.getByRole("tab", { name: "Default values" }).click();
    await page.locator('[data-cut="values.yaml"]').waitFor();
    const shown = await page.locator("pre.values").innerText();
    assert.ok(shown.length <= 64 * 1024 && shown.startsWith("key0000:"), `the first 64 KiB (${shown.length} characters)`);
    assert.ok(!shown.includes("lastKey"));
    await page.getByRole("button", { name: "Show all of values.yaml" }).click();
    assert.ok((await page.locator("pre.values").innerText()).includes("lastKey: the-very-end"));
    assert.equal(await page.locator('[data-cut="values.yaml"]').count(), 0);
    assert.equal(await page.locator('[data-server-cut="values.yaml"]').count(), 0, "the server sent all of it");
  });

  await t.test("a README over 512 KiB: the page says the server sent its start, before and after Show all", async () => {
    await page.goto(`${berth.url}/charts/charts/ocidemo`);
    await page.locator('[data-cut="README.md"]').waitFor();
    await page.getByRole("button", { name: "Show all that was sent" }).click();
    const note = await page.locator('[data-server-cut="README.md"]').innerText();
    assert.match(note, /README\.md is \d+ KiB; the server sends its first 512 KiB\. Pull the chart to read the rest\./);
    assert.ok(!(await page.locator('[role="tabpanel"]').innerText()).includes("README-END"));
  });

  await t.test("search by provenance finds the image by an abbreviated build.sha", async () => {
    await page.goto(`${berth.url}/search?label=${encodeURIComponent(`build.sha=${SEED.sha.slice(0, 7)}`)}`);
    await page.getByText("1 found").waitFor();
    assert.equal(await page.getByRole("link", { name: /^seed\/app@/ }).count(), 1);
  });

  await t.test("a state-changing call without the CSRF token is refused", async () => {
    const status = await page.evaluate(async () => {
      const res = await fetch("/api/v1/users", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "mallory", roles: ["owner"] }) });
      return res.status;
    });
    assert.equal(status, 403);
  });

  // -- as an acrpull user
  const pullerContext = await browser.newContext();
  const p = await open(pullerContext, berth);
  await t.test("an acrpull identity sees no delete button, and its forged delete is refused", async () => {
    await signIn(p.page, berth, PULLER.name, PULLER.password);
    await p.page.goto(`${berth.url}/r/seed/app`);
    await p.page.getByRole("heading", { name: "dev" }).waitFor();
    await p.page.getByRole("heading", { name: "Manifests" }).waitFor();
    assert.equal(await p.page.getByRole("button", { name: /^Delete/ }).count(), 0);
    await p.page.goto(`${berth.url}/r/seed/app/-/tag/dev`);
    await p.page.locator('[data-label="build.user"]').waitFor();
    await p.page.waitForLoadState("networkidle"); // every answer in, the repository's `may` too
    assert.equal(await p.page.getByRole("button", { name: /^Delete/ }).count(), 0, "no delete on the manifest page either");
    const forged = await p.page.evaluate(async () => {
      const session = (await (await fetch("/api/v1/session")).json()) as { csrf: string };
      const res = await fetch("/api/v1/repositories/seed/app/tags/dev", { method: "DELETE", headers: { "x-berth-csrf": session.csrf } });
      return res.status;
    });
    assert.equal(forged, 403);
    const still = await fetch(`${berth.url}/v2/seed/app/manifests/dev`, { method: "HEAD", headers: { authorization: berth.basicAuth, accept: "application/vnd.oci.image.manifest.v1+json" } });
    assert.equal(still.status, 200, "the tag is still there");
  });

  // -- the keyboard alone (the CSP in force): sign in, the skip link, a repository, the delete
  // confirmation cancelled, a chart's tabs
  const keyboard = await open(await browser.newContext(), berth);
  await t.test("the keyboard alone: sign in, skip to content, open a repository and a tag, cancel a delete, switch a chart's tabs", async () => {
    const k = keyboard.page;
    await k.goto(`${berth.url}/sign-in`);
    await k.getByRole("button", { name: "Sign in" }).waitFor();
    await tabTo(k, /^User name, service principal ID or token name$/);
    await k.keyboard.type(berth.username);
    await k.keyboard.press("Tab");
    await k.keyboard.type(berth.password);
    await k.keyboard.press("Enter");
    await k.getByText(`Signed in as ${berth.username}`, { exact: true }).waitFor();
    await k.getByRole("heading", { name: "Repositories" }).waitFor();
    await k.getByRole("link", { name: "seed/app", exact: true }).waitFor();

    await k.keyboard.press("Tab");
    assert.equal(await k.evaluate(() => document.activeElement?.textContent?.trim()), "Skip to content", "the first stop is the skip link");
    assert.ok(await focusRing(k), "the focused link shows a ring");
    await k.keyboard.press("Enter");
    await k.keyboard.press("Tab");
    assert.equal(await k.evaluate(() => (document.activeElement as HTMLInputElement | null)?.labels?.[0]?.textContent?.trim()), "Name contains", "after the skip, the page's own first control");

    await tabTo(k, /^seed\/app$/);
    assert.ok(await focusRing(k));
    await k.keyboard.press("Enter");
    await k.getByRole("heading", { name: "dev" }).waitFor();
    await tabTo(k, /^Delete tag dev$/);
    await k.keyboard.press("Enter");
    const dialog = k.getByRole("alertdialog");
    await dialog.waitFor();
    // The question takes the focus, on Cancel (waited for as any element is: the page moves it once drawn).
    await k.waitForFunction(() => document.activeElement?.closest("[role=alertdialog]") !== null && document.activeElement?.textContent?.trim() === "Cancel");
    await k.keyboard.press("Enter");
    await dialog.waitFor({ state: "detached" });
    const still = await fetch(`${berth.url}/v2/seed/app/manifests/dev`, { method: "HEAD", headers: { authorization: berth.basicAuth, accept: "application/vnd.oci.image.manifest.v1+json" } });
    assert.equal(still.status, 200, "cancelled: the tag is still there");
    assert.equal(await k.evaluate(() => document.activeElement?.textContent?.trim()), "Delete tag dev", "the focus is back on the button that asked");

    await tabTo(k, /^dev$/, { back: true });
    await k.keyboard.press("Enter");
    await k.locator('[data-label="build.user"]').waitFor();
    await tabTo(k, /notation signature|signature/);
    assert.equal(await k.evaluate(() => document.activeElement?.getAttribute("role")), "treeitem", "the referrers tree is one tab stop");

    await k.goto(`${berth.url}/charts/repo/classic`);
    await k.getByRole("heading", { name: "Classic chart" }).waitFor();
    await tabTo(k, /^README$/);
    await k.keyboard.press("ArrowRight");
    assert.equal(await k.getByRole("tab", { name: "Default values" }).getAttribute("aria-selected"), "true");
    assert.equal(await k.evaluate(() => document.activeElement?.textContent?.trim()), "Default values");
    await k.locator("pre.values").waitFor();
  });

  await t.test("identities: a new secret downloads as a text file made in the browser; the audit trail filters on the server", async () => {
    await page.goto(`${berth.url}/identities`);
    const form = page.locator("form").filter({ has: page.getByRole("button", { name: "Add user" }) });
    await form.getByLabel("Name").fill("downloader");
    const requests: string[] = [];
    page.on("request", (r) => requests.push(`${r.method()} ${r.url()}`));
    await form.getByRole("button", { name: "Add user" }).click();
    const secret = await page.locator(".secret code").innerText();
    assert.ok(secret.length >= 16, secret);
    // The list's refresh after the add may still be on its way when the secret shows (CI saw it land in the window below).
    await page.waitForLoadState("networkidle");
    const asked = requests.length;
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download as a text file" }).click()]);
    assert.equal(download.suggestedFilename(), "berth-Password_of_downloader.txt");
    assert.equal(await readFile((await download.path())!, "utf8"), `Password of downloader\n${secret}\n`);
    assert.deepEqual(requests.slice(asked).filter((r) => !r.includes(" blob:")), [], "no request to the server for the download");

    // Filter the trail on the server: who and outcome.
    const filters = page.getByRole("form", { name: "Audit filters" });
    await filters.getByLabel("Who").fill(PULLER.name);
    await filters.getByLabel("Outcome").selectOption("denied");
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().includes("/api/v1/audit?") && r.url().includes(`identity=${PULLER.name}`)), filters.getByRole("button", { name: "Filter" }).click()]);
    assert.match(answer.url(), /outcome=denied/);
    const rows = page.locator("tr[data-audit-event]");
    await rows.first().waitFor();
    for (const row of await rows.all()) assert.match(await row.innerText(), new RegExp(`${PULLER.name}\\s+denied`));

    // The user's own buttons: a new password (shown once, not the first), then delete.
    await page.getByRole("button", { name: "New password for downloader" }).click();
    await page.locator(".secret p").filter({ hasText: "New password of downloader" }).waitFor();
    const renewed = await page.locator(".secret code").innerText();
    assert.ok(renewed.length >= 16 && renewed !== secret, renewed);
    await page.getByRole("button", { name: "Delete downloader" }).click();
    await page.getByRole("button", { name: "New password for downloader" }).waitFor({ state: "detached" });
    assert.equal(await page.getByRole("listitem").filter({ hasText: "downloader" }).count(), 0);
  });

  await t.test("settings: policies as configured (read-only), and a read-locked tag found and unlocked", async () => {
    const locked = await fetch(`${berth.url}/api/v1/repositories/seed/app/attributes?tag=old`, { method: "PATCH", headers: { authorization: berth.basicAuth, "content-type": "application/json" }, body: JSON.stringify({ readEnabled: false }) });
    assert.equal(locked.status, 200, await locked.text());
    await page.goto(`${berth.url}/settings`);
    await page.getByText("No push policies").waitFor();
    assert.equal(await page.getByText("No pull policies").count(), 1);
    assert.equal(await page.locator("input[type=checkbox]").count(), 0, "nothing the configuration sets is a control");
    const row = page.locator('tr[data-attributes="seed/app:old"]');
    assert.match(await row.innerText(), /seed\/app:old\s+no\s+yes\s+yes\s+yes/);
    await row.getByRole("button", { name: "Change seed/app:old" }).click();
    const read = page.getByLabel("Read (pull) enabled");
    assert.equal(await read.isChecked(), false);
    await read.check();
    await page.locator('tr[data-attributes="seed/app:old"]').filter({ hasText: /seed\/app:old\s*yes/ }).waitFor();
  });

  await t.test("lifecycle: a tag rule added and removed, a webhook added (its secret once) and pinged, its delivery shown, events newest first", async () => {
    const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const receiver = createHttpServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
    t.after(() => new Promise<void>((r) => receiver.close(() => r())));
    const port = (receiver.address() as { port: number }).port;

    await page.goto(`${berth.url}/lifecycle`);
    await page.getByRole("heading", { name: "Lifecycle" }).waitFor();
    // Events, newest first: the seed's push is among them, with who pushed it.
    const pushed = page.locator("tr[data-event]").filter({ hasText: "seed/app:dev" }).first();
    await pushed.waitFor();
    assert.match(await pushed.innerText(), /push\s+admin \(admin\)/);
    const ids = await page.locator("tr[data-event] td:first-child").allInnerTexts();
    assert.deepEqual(ids.map(Number), [...ids.map(Number)].sort((x, y) => y - x), "newest first");

    const ruleForm = page.locator("form").filter({ has: page.getByRole("button", { name: "Add rule" }) });
    await ruleForm.getByLabel("Repositories").fill("seed/*");
    await ruleForm.getByLabel("Tags").fill("dev");
    await ruleForm.getByRole("button", { name: "Add rule" }).click();
    const rule = page.locator("tr[data-tag-rule]").filter({ hasText: "seed/*" });
    await rule.waitFor();
    const refused = await fetch(`${berth.url}/v2/seed/app/manifests/dev`, { method: "DELETE", headers: { authorization: berth.basicAuth } });
    assert.equal(refused.status, 403, "the rule made in the page holds");
    await rule.getByRole("button", { name: "Remove the rule for tags dev in seed/*" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
    await rule.waitFor({ state: "detached" });

    const hookForm = page.locator("form.webhook-form");
    await hookForm.getByLabel("Name").fill("ci");
    await hookForm.getByLabel("URL").fill(`http://127.0.0.1:${port}/hook`);
    await hookForm.getByLabel("Format").selectOption("cloudevents");
    await hookForm.getByRole("button", { name: "Add webhook" }).click();
    await page.locator(".secret p").filter({ hasText: "Signing secret of webhook ci" }).waitFor();
    const secret = await page.locator(".secret code").innerText();
    assert.ok(secret.length >= 32, secret);
    const row = page.locator('tr[data-webhook="ci"]');
    assert.match(await row.innerText(), /cloudevents\s+enabled/);
    await row.getByRole("button", { name: "Ping ci" }).click();
    const delivery = page.locator("tr[data-delivery]").first();
    await delivery.filter({ hasText: "delivered" }).waitFor();
    assert.match(await delivery.innerText(), /ping\s+delivered\s+1\s+200/);
    assert.equal(received.length, 1, "the ping reached the receiver");
    await row.getByRole("button", { name: "Disable ci" }).click();
    await page.locator('tr[data-webhook="ci"]').filter({ hasText: "disabled" }).waitFor();
    await row.getByRole("button", { name: "Delete ci" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
    await row.waitFor({ state: "detached" });
  });

  // -- lifecycle through the page: retention, quotas, soft delete (content pushed by oras)
  const orasDir = await scratch(t);
  const orasRun = (args: string[]) => run(oras, args, { env: { HOME: orasDir }, cwd: orasDir });
  const orasOk = (args: string[]) => runOk(oras, args, { env: { HOME: orasDir }, cwd: orasDir });
  const remote = ["--plain-http", "-u", berth.username, "-p", berth.password];
  const v2 = (path: string, method = "GET") => fetch(`${berth.url}/v2/${path}`, { method, headers: { authorization: berth.basicAuth, accept: "application/vnd.oci.image.manifest.v1+json" } });
  const tagsOf = async (repo: string) => ((await (await v2(`${repo}/tags/list`)).json()) as { tags: string[] | null }).tags ?? [];

  await t.test("retention: a policy added in the page, previewed against pushed tags a page at a time, run after a confirmation naming the count, the run listed", async () => {
    await writeFile(join(orasDir, "note.txt"), "kept or not\n");
    await orasOk(["push", ...remote, `${berth.host}/keep/app:v00`, "note.txt:text/plain"]);
    const more = Array.from({ length: 60 }, (_, i) => `v${String(i + 1).padStart(2, "0")}`);
    await orasOk(["tag", ...remote, `${berth.host}/keep/app:v00`, ...more]);
    assert.equal((await tagsOf("keep/app")).length, 61);

    await page.goto(`${berth.url}/lifecycle`);
    const form = page.getByRole("form", { name: "Add a retention policy" });
    await form.getByLabel("Repositories").fill("keep/app");
    await form.getByLabel("Kind").selectOption("keep");
    await form.getByLabel("Tags to keep").fill("2");
    await form.getByLabel("Tag pattern").fill("v*");
    await form.getByRole("button", { name: "Add policy" }).click();
    const policy = page.locator("tr[data-retention-policy]").filter({ hasText: "keep/app" });
    await policy.waitFor();
    assert.match(await policy.innerText(), /keep\/app\s+2\s+v\*\s+only the newest 2 tags matching v\* stay/);

    // Preview: 59 tags would go, 50 a page; nothing is deleted.
    await page.getByRole("button", { name: "Preview", exact: true }).click();
    const preview = page.locator('[data-retention-run="preview"]');
    await preview.waitFor();
    assert.match(await preview.getByRole("status").innerText(), /^Preview: would delete 59 tags and 0 manifests; 0 skipped\. Nothing was deleted\.$/);
    const items = page.locator("tr[data-retention-item]");
    assert.equal(await items.count(), 50);
    const planned = await items.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-retention-item")!));
    for (const row of await items.all()) assert.match(await row.innerText(), /^would delete\s+keep\/app\s+tag v\d\d\s+tag v\d\d is the \d+(st|nd|rd|th) newest of 'v\*' \(policy [0-9a-f-]+ keeps 2\)$/);
    await page.getByRole("button", { name: "Next items" }).click();
    await page.getByText("Page 2 of 2").waitFor();
    assert.equal(await items.count(), 9);
    planned.push(...(await items.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-retention-item")!))));
    assert.equal(new Set(planned).size, 59);
    assert.equal((await tagsOf("keep/app")).length, 61, "a preview deletes nothing");

    // Run now: the confirmation names the count; then the run's items, the tags left, the run in "Last runs".
    await page.getByRole("button", { name: "Run now" }).click();
    const dialog = page.getByRole("alertdialog");
    assert.match(await dialog.innerText(), /Run every retention policy now\? As of now, 59 tags and 0 manifests go \(0 skipped\)/);
    await dialog.getByRole("button", { name: "Run now" }).click();
    const ran = page.locator('[data-retention-run="run"]');
    await ran.waitFor();
    assert.equal(await ran.getByRole("status").innerText(), "Deleted 59 tags and 0 manifests; 0 skipped.");
    const left = await tagsOf("keep/app");
    assert.equal(left.length, 2);
    assert.deepEqual([...left, ...planned].sort(), ["v00", ...more].sort(), "what is left is exactly what the preview did not list");
    const lastRun = page.locator("tr[data-retention-event]").first();
    await lastRun.waitFor();
    assert.match(await lastRun.innerText(), /demand\s+admin \(admin\)\s+59\s+0\s+0/);
    await page.locator("tr[data-event]").filter({ hasText: "retention run (demand): 59 tags" }).first().waitFor();
  });

  await t.test("quotas: set in the page with its usage, changed below the usage (a push is refused, its event found by the link), removed", async () => {
    await page.goto(`${berth.url}/lifecycle`);
    const form = page.getByRole("form", { name: "Set a quota" });
    await form.getByLabel("Scope").fill("seed/*");
    await form.getByLabel("Limit").fill("1GiB");
    await form.getByRole("button", { name: "Set quota" }).click();
    const row = page.locator('tr[data-quota="seed/*"]');
    await row.waitFor();
    const listed = (await (await fetch(`${berth.url}/api/v1/quotas`, { headers: { authorization: berth.basicAuth } })).json()) as QuotaList;
    const quota = listed.quotas.find((q) => q.scope === "seed/*")!;
    assert.ok(quota.used > 0 && quota.limit === 1024 ** 3, JSON.stringify(quota));
    assert.equal(await row.locator("[data-usage]").innerText(), `${bytes(quota.used)} of ${bytes(quota.limit)} (${quota.percent}%)`);

    await row.getByRole("button", { name: "Change seed/*" }).click();
    const limit = row.getByLabel("New limit for seed/*");
    assert.equal(await limit.inputValue(), "1GiB");
    await limit.fill("100");
    await row.getByRole("button", { name: "Save" }).click();
    await row.getByText("over the limit").waitFor();
    assert.match(await row.locator("[data-usage]").innerText(), new RegExp(`^${bytes(quota.used).replace(".", "\\.")} of 100 B \\(\\d+(\\.\\d)?%\\) over the limit`));
    await writeFile(join(orasDir, "over.txt"), "one byte too many\n");
    const refused = await orasRun(["push", ...remote, `${berth.host}/seed/quota:v1`, "over.txt:text/plain"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /quota "seed\/\*" exceeded/);

    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().includes("/api/v1/events?") && r.url().includes("action=policy_refused")), page.getByRole("link", { name: "see the refused pushes" }).click()]);
    assert.equal(answer.status(), 200);
    assert.equal(new URL(page.url()).search, "?action=policy_refused");
    const refusal = page.locator("tr[data-event]").filter({ hasText: "seed/quota" }).first();
    await refusal.waitFor();
    // The event carries the quota's words without its figures (a namespace quota's figures are for berth quota list).
    assert.match(await refusal.innerText(), /policy_refused\s+admin \(admin\)\s+seed\/quota(:v1)? refused: the storage quota of "seed\/\*" is full: this push needs \d+ B more/);
    for (const action of await page.locator("tr[data-event] td:nth-child(3)").allInnerTexts()) assert.equal(action, "policy_refused");

    await form.getByLabel("Scope").fill("*");
    await form.getByLabel("Limit").fill("10GiB");
    await form.getByRole("button", { name: "Set quota" }).click();
    await page.locator('tr[data-quota="*"]').waitFor();
    await row.getByRole("button", { name: "Remove seed/*" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Remove" }).click();
    await row.waitFor({ state: "detached" });
    assert.deepEqual(((await (await fetch(`${berth.url}/api/v1/quotas`, { headers: { authorization: berth.basicAuth } })).json()) as QuotaList).quotas.map((q) => q.scope), ["*"]);
  });

  await t.test("soft delete: tags deleted in the page are listed as recently deleted, restored (a tag pushed again: with force), and pulled by oras byte for byte", async () => {
    const contents = { "v1.txt": "the first v1\n", "v2.txt": "v2, to come back as it was\n", "v3.txt": "v3 stays deleted\n", "again.txt": "v1 pushed again\n" };
    for (const [file, text] of Object.entries(contents)) await writeFile(join(orasDir, file), text);
    for (const tag of ["v1", "v2", "v3"]) await orasOk(["push", ...remote, `${berth.host}/trash/app:${tag}`, `${tag}.txt:text/plain`]);
    const digestOf = async (tag: string) => (await v2(`trash/app/manifests/${tag}`, "HEAD")).headers.get("docker-content-digest")!;
    const first = { v1: await digestOf("v1"), v2: await digestOf("v2") };

    // A row by its tags cell (oras's artifactType, application/vnd.unknown.artifact.v1, holds "v1" too).
    const deletedRow = (tag: string) => page.locator("tr[data-deleted]").filter({ has: page.getByRole("rowheader", { name: tag, exact: true }) });
    await page.goto(`${berth.url}/r/trash/app`);
    for (const tag of ["v1", "v2", "v3"]) {
      await page.getByRole("button", { name: `Delete tag ${tag}` }).click();
      await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
      await deletedRow(tag).waitFor();
    }
    assert.equal((await v2("trash/app/manifests/v1", "HEAD")).status, 404, "a deleted tag is gone for clients");
    const v1 = deletedRow("v1");
    assert.match(await v1.innerText(), new RegExp(`^v1\\s+${first.v1.slice(0, 19)}\\s+tag only · artifact\\s+application/vnd\\.unknown\\.artifact\\.v1\\s+.+\\s+admin \\(admin\\)\\s+.+\\s+Restore v1$`));
    assert.equal(await v1.locator("code").getAttribute("title"), first.v1, "the full digest on hover");
    await page.getByText("stay restorable for 1 day").waitFor();

    // v1 pushed again meanwhile: the restore is refused with the server's message, then forced.
    await orasOk(["push", ...remote, `${berth.host}/trash/app:v1`, "again.txt:text/plain"]);
    await v1.getByRole("button", { name: "Restore v1" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Restore" }).click();
    const refusal = page.locator("[data-restore-refused]");
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /trash\/app:v1 was pushed again after it was deleted/);
    await refusal.getByRole("button", { name: "Restore with force" }).click();
    await page.getByText(`Restored ${first.v1.slice(0, 19)} with the tags v1.`).waitFor();
    await deletedRow("v1").waitFor({ state: "detached" });

    await deletedRow("v2").getByRole("button", { name: "Restore v2" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Restore" }).click();
    await deletedRow("v2").waitFor({ state: "detached" });
    await page.getByRole("heading", { name: "v2", exact: true }).waitFor();
    assert.equal(await page.locator("tr[data-deleted]").count(), 1, "v3 stays deleted");

    for (const tag of ["v1", "v2"] as const) {
      assert.equal(await digestOf(tag), first[tag], `${tag} names its first manifest again`);
      const out = join(orasDir, `pulled-${tag}`);
      await orasOk(["pull", ...remote, `${berth.host}/trash/app:${tag}`, "-o", out]);
      assert.equal(await readFile(join(out, `${tag}.txt`), "utf8"), contents[`${tag}.txt`], `${tag} pulled byte for byte`);
    }

    // A whole repository deleted: its page says it is unknown, and "Recently deleted" brings it back.
    await orasOk(["push", ...remote, `${berth.host}/trash/gone:v1`, "v2.txt:text/plain"]);
    const dropped = await fetch(`${berth.url}/api/v1/repositories/trash/gone`, { method: "DELETE", headers: { authorization: berth.basicAuth } });
    assert.equal(dropped.status, 200, await dropped.text());
    await page.goto(`${berth.url}/r/trash/gone`);
    const gone = page.locator("tr[data-deleted]").filter({ has: page.getByRole("rowheader", { name: "v1", exact: true }) });
    await gone.getByRole("button", { name: "Restore v1" }).click();
    assert.match(await page.getByRole("alertdialog").innerText(), /^Restore sha256:[0-9a-f]{12} with the tags v1 in trash\/gone\?/);
    await page.getByRole("alertdialog").getByRole("button", { name: "Restore" }).click();
    await page.getByRole("heading", { name: "v1", exact: true }).waitFor();
    await orasOk(["pull", ...remote, `${berth.host}/trash/gone:v1`, "-o", join(orasDir, "pulled-gone")]);
    assert.equal(await readFile(join(orasDir, "pulled-gone", "v2.txt"), "utf8"), contents["v2.txt"]);

    // Pull and delete but no push (acrpull + acrdelete): the list, no Restore, and a forged restore refused.
    const deleter = { name: "deleter", password: "deleter-password-1" };
    const made1 = await fetch(`${berth.url}/api/v1/users`, { method: "POST", headers: { authorization: berth.basicAuth, "content-type": "application/json" }, body: JSON.stringify({ ...deleter, roles: ["acrpull", "acrdelete"] }) });
    assert.equal(made1.status, 201, await made1.text());
    const d = await open(await browser.newContext(), berth);
    await signIn(d.page, berth, deleter.name, deleter.password);
    await d.page.goto(`${berth.url}/r/trash/app`);
    await d.page.locator("tr[data-deleted]").first().waitFor();
    await d.page.getByText("Restoring needs push as well as delete on this repository.").waitFor();
    assert.equal(await d.page.getByRole("button", { name: /^Restore/ }).count(), 0, "no Restore without push");
    assert.equal(await d.page.getByRole("button", { name: "Delete tag v1" }).count(), 1, "delete is theirs");
    const forged = await d.page.evaluate(async () => {
      const session = (await (await fetch("/api/v1/session")).json()) as { csrf: string };
      const res = await fetch("/api/v1/deleted/trash/app", { method: "POST", headers: { "x-berth-csrf": session.csrf, "content-type": "application/json" }, body: JSON.stringify({ reference: "v3" }) });
      return res.status;
    });
    assert.equal(forged, 403, "the server refuses a restore without push all the same");
    assert.equal((await v2("trash/app/manifests/v3", "HEAD")).status, 404);
    assert.deepEqual([...d.dialogs, ...d.cspReports], []);

    // An acrpull identity may not delete here: no "Recently deleted" at all.
    await p.page.goto(`${berth.url}/r/trash/app`);
    await p.page.getByRole("heading", { name: "v1", exact: true }).waitFor();
    await p.page.waitForLoadState("networkidle");
    assert.equal(await p.page.getByRole("heading", { name: "Recently deleted" }).count(), 0);
    // For the axe pass below: an untagged policy with something to preview (v3's manifest, v1's second one).
    const made = await fetch(`${berth.url}/api/v1/retention-policies`, { method: "POST", headers: { authorization: berth.basicAuth, "content-type": "application/json" }, body: JSON.stringify({ repository: "trash/*", untaggedDays: 0 }) });
    assert.equal(made.status, 201, await made.text());
  });

  // -- axe and screenshots of every page (axe needs bypassCSP to inject its script)
  const audit = await browser.newContext({ bypassCSP: true });
  const x = await open(audit, berth);
  await t.test("axe finds no serious or critical violation on any page; each page is photographed", async () => {
    await x.page.goto(`${berth.url}/sign-in`);
    await x.page.getByRole("button", { name: "Sign in" }).waitFor();
    await assertAccessible(x.page, "sign-in");
    await x.page.screenshot({ path: join(SHOTS, "sign-in.png"), fullPage: true });
    await signIn(x.page, berth, berth.username, berth.password);
    const pages: [string, string, string][] = [
      ["repositories", "/", "seed/app"],
      ["repository", "/r/seed/app", "docker pull"],
      ["manifest", "/r/seed/app/-/tag/dev", "Built by"],
      ["index", "/r/multi/app/-/tag/v1", "Platforms"],
      ["hostile", "/r/hostile/app/-/tag/v1", HOSTILE_LABEL],
      ["charts", "/charts", "repo/classic"],
      ["chart", "/charts/repo/classic", "Classic chart"],
      ["chart-values", "/charts/repo/classic", "Classic chart"],
      ["chart-both", "/charts/repo/twoway", "The OCI way"],
      ["chart-long", "/charts/charts/ocidemo", "The OCI way"],
      ["search", `/search?label=${encodeURIComponent("build.user=octocat")}`, "1 found"],
      ["identities", "/identities", "puller"],
      ["settings", "/settings", "Anonymous pull"],
      ["lifecycle", "/lifecycle", "Events, newest first"],
      ["deleted", "/r/trash/app", "Recently deleted"],
    ];
    for (const scheme of ["light", "dark"] as const) {
      // prefers-color-scheme picks the theme: both must pass axe (contrast above all).
      await x.page.emulateMedia({ colorScheme: scheme });
      for (const [name, path, text] of pages) {
        await x.page.goto(`${berth.url}${path}`);
        await x.page.getByText(text).first().waitFor();
        if (name === "chart-values" || name === "chart-long") await x.page.getByRole("tab", { name: "Default values" }).click();
        if (name === "lifecycle") {
          // The preview's table too (trash/*'s untagged policy has items), and the quota's bar.
          await x.page.locator('tr[data-quota="*"]').waitFor();
          // The run is older than the newest few events now: "Last runs" still finds it.
          await x.page.locator("tr[data-retention-event]").first().waitFor();
          await x.page.getByRole("button", { name: "Preview", exact: true }).click();
          await x.page.locator("tr[data-retention-item]").first().waitFor();
        }
        if (name === "deleted") await x.page.locator("tr[data-deleted]").first().waitFor();
        await assertAccessible(x.page, `${name} (${scheme})`);
        const file = scheme === "dark" ? `${name}-dark.png` : `${name}.png`;
        if (name !== "manifest" || scheme === "dark") await x.page.screenshot({ path: join(SHOTS, file), fullPage: true });
      }
    }
    await x.page.emulateMedia({ colorScheme: "light" });
    // A phone-sized view of the repositories page.
    await x.page.setViewportSize({ width: 360, height: 740 });
    await x.page.goto(`${berth.url}/`);
    await x.page.getByText("seed/app").first().waitFor();
    await x.page.screenshot({ path: join(SHOTS, "repositories-phone.png"), fullPage: true });
    // In this context an injected onerror WOULD run (no CSP): the hostile label must still be text.
    await x.page.goto(`${berth.url}/r/hostile/app/-/tag/v1`);
    await x.page.getByText(HOSTILE_LABEL, { exact: true }).waitFor();
  });

  await t.test("a repository with more manifests than a page: the Manifests section's Next page walks on by the server's cursor; one not yet shown that is pushed again meanwhile is on the next page", async () => {
    // 201 untagged images (one shared layer, a config each), pushed by digest the way clients push.
    const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
    const layer = testBlob(Buffer.from("a layer every page shares\n"));
    const images = Array.from({ length: 201 }, (_, i) => buildImage([layer], `page-${i}`));
    for (const image of images) await pushImage(client, "pages/untagged", image.digest, image, { skipExisting: true });
    await page.goto(`${berth.url}/r/pages/untagged`);
    const table = page.getByRole("table", { name: "Manifests of pages/untagged" });
    const link = (digest: string) => table.locator(`a[href="/r/pages/untagged/-/manifest/${encodeURIComponent(digest)}"]`);
    const shown = async () => (await table.locator("tbody th a").evaluateAll((links) => links.map((a) => a.getAttribute("href") ?? ""))).map((href) => decodeURIComponent(href.split("/-/manifest/")[1]!));
    await table.locator("tbody tr").nth(199).waitFor();
    const first = await shown();
    assert.equal(first.length, 200, "a page of 200, newest push first");
    const pager = page.getByRole("navigation", { name: "Pages of manifests" });
    assert.equal(await pager.count(), 1, "a pager: the server has more");
    const rest = images.filter((i) => !first.includes(i.digest));
    assert.equal(rest.length, 1);
    await client.putManifest("pages/untagged", rest[0]!.digest, rest[0]!.manifest); // not yet shown, pushed again: now the newest push
    await pager.getByRole("button", { name: "Next page" }).click();
    await link(rest[0]!.digest).waitFor();
    assert.deepEqual(await shown(), [rest[0]!.digest], "the walk's next page: the one pushed during it");
    assert.ok(await pager.getByRole("button", { name: "Next page" }).isDisabled(), "the last page");
    await pager.getByRole("button", { name: "Previous page" }).click();
    await link(first[0]!).waitFor();
    assert.equal(await table.locator("tbody tr").count(), 200);
    // The filter starts the walk again: the first page, no page before it. (Previous fetched the
    // first page afresh, a new walk in which the one pushed again is the newest: the page after it
    // holds another manifest, so what is waited for is the page, not a digest.)
    await pager.getByRole("button", { name: "Next page" }).click();
    await page.waitForFunction(() => {
      const previous = document.querySelector('nav[aria-label="Pages of manifests"] button');
      return previous instanceof HTMLButtonElement && !previous.disabled;
    });
    await page.getByLabel("Only untagged").check();
    await table.locator("tbody tr").nth(199).waitFor();
    assert.ok(await pager.getByRole("button", { name: "Previous page" }).isDisabled(), "back on the first page");
    await x.page.goto(`${berth.url}/r/pages/untagged`);
    await x.page.getByRole("navigation", { name: "Pages of manifests" }).waitFor();
    await assertAccessible(x.page, "manifest pages");
  });

  await t.test("a repository with more tags than a page: Next page walks on by the server's cursor; a tag not yet shown that is pushed again meanwhile is on the next page, no tag twice", async () => {
    // Last: its 202 pushes would carry the seed's push off the events page's first 50.
    // An artifact with no content of its own (the empty descriptor), under 201 tags pushed oldest first.
    const auth = { authorization: berth.basicAuth };
    const empty = Buffer.from("{}");
    const emptyDigest = `sha256:${createHash("sha256").update(empty).digest("hex")}`;
    const blob = await fetch(`${berth.url}/v2/pages/app/blobs/uploads/?digest=${emptyDigest}`, { method: "POST", headers: { ...auth, "content-type": "application/octet-stream" }, body: empty });
    assert.equal(blob.status, 201);
    const descriptor = { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: empty.length };
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/vnd.example.page", config: descriptor, layers: [descriptor] });
    const tagAs = async (tag: string) => {
      const res = await fetch(`${berth.url}/v2/pages/app/manifests/${tag}`, { method: "PUT", headers: { ...auth, "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest });
      assert.equal(res.status, 201, await res.text());
      await new Promise((r) => setTimeout(r, 2)); // each its own millisecond: newest first is the names' reverse
    };
    const names = Array.from({ length: 201 }, (_, i) => `tag-${String(i).padStart(3, "0")}`);
    for (const name of names) await tagAs(name);
    await page.goto(`${berth.url}/r/pages/app`);
    const cards = page.locator(".card h2");
    await page.getByRole("heading", { name: "tag-200", exact: true }).waitFor();
    assert.equal(await cards.count(), 200, "a page of 200, newest first");
    assert.equal(await page.getByRole("heading", { name: "tag-000", exact: true }).count(), 0);
    const first = await cards.allInnerTexts();
    await tagAs("tag-000"); // the oldest, not yet shown, is pushed again: now the newest push
    const pager = page.getByRole("navigation", { name: "Pages of tags" });
    await pager.getByRole("button", { name: "Next page" }).click();
    await page.getByRole("heading", { name: "tag-000", exact: true }).waitFor();
    const second = await cards.allInnerTexts();
    assert.deepEqual(second, ["tag-000"], "the walk's next page: the tag pushed during it");
    assert.deepEqual(new Set([...first, ...second]), new Set(names), "every tag once");
    assert.equal(first.length + second.length, names.length);
    assert.ok(await pager.getByRole("button", { name: "Next page" }).isDisabled(), "the last page");
    await pager.getByRole("button", { name: "Previous page" }).click();
    await page.getByRole("heading", { name: "tag-199", exact: true }).waitFor();
  });

  await t.test("no dialog opened, no CSP violation was reported, nothing was asked of another origin, every API call is documented", async () => {
    const all = [a, p, x, keyboard];
    assert.deepEqual(all.flatMap((w) => w.dialogs), []);
    assert.deepEqual([a, p, keyboard].flatMap((w) => w.cspReports), []);
    assert.deepEqual(all.flatMap((w) => w.offsite), [], "the portal works offline: no CDN, no remote font or image");
    const documented = await documentedEndpoints();
    const calls = [...new Set(all.flatMap((w) => w.calls))].sort();
    assert.ok(calls.length > 20, `the pages called the API (${calls.length} distinct calls)`);
    assert.deepEqual(calls.filter((call) => !documented.some((pattern) => pattern.test(call))), [], "every call the portal made is in docs/api.md");
    const shots = await Promise.all(["sign-in", "repositories", "manifest", "charts", "chart"].map((n) => readFile(join(SHOTS, `${n}.png`))));
    for (const shot of shots) assert.ok(shot.subarray(1, 4).toString() === "PNG");
  });
});
