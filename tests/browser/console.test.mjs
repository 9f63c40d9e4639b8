// sluis-console in a real Chromium: enrolment and sign-in with a CDP virtual authenticator,
// refusals, partner isolation, CSRF, CSP nonces, three languages, axe-core, screenshots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import {
  ORIGIN, SHOTS, T, fill, invite, browser, responses, person, enrol, signIn, csrfOf, axeCheck,
  noInlineCode,
} from "./lib.mjs";

test("enrol from a one-time link, sign out, sign in again with the passkey", async () => {
  const an = await person();
  const link = invite("ocmw-brussel", "an", "admin");
  assert.match(link, new RegExp(`^${ORIGIN}/enrol\\?invite=[A-Za-z0-9_-]{43}$`));
  await an.page.goto(link);
  const pre = (await an.context.cookies()).find((c) => c.name === "__Host-sluis-session");
  assert.ok(pre, "a pre-sign-in session cookie is set on the enrolment page");
  assert.equal(pre.secure, true);
  assert.equal(pre.httpOnly, true);
  assert.equal(pre.sameSite, "Strict");
  assert.equal(pre.path, "/");
  await an.page.getByRole("button", { name: T.en["enrol.passkey_button"] }).click();
  await an.page.waitForURL(`${ORIGIN}/`);
  await assert.doesNotReject(an.page.getByText(fill(T.en["home.welcome"], {
    worker: "an", partner: "ocmw-brussel", role: T.en["role.admin"] })).waitFor());
  await an.page.getByText(fill(T.en["home.gateway_ok"], { partner: "ocmw-brussel" })).waitFor();
  const post = (await an.context.cookies()).find((c) => c.name === "__Host-sluis-session");
  assert.notEqual(post.value, pre.value, "the session id is rotated at sign-in");
  const { credentials } = await an.cdp.send("WebAuthn.getCredentials",
    { authenticatorId: an.authenticatorId });
  assert.equal(credentials.length, 1);
  await an.page.screenshot({ path: `${SHOTS}/home-en.png`, fullPage: true });

  await an.page.getByRole("button", { name: T.en["layout.log_out"], exact: true }).click();
  await an.page.waitForURL(`${ORIGIN}/login`);
  await an.page.goto(`${ORIGIN}/`);
  assert.equal(an.page.url(), `${ORIGIN}/login`, "signed out: the home page sends to sign-in");
  await signIn(an);
  await an.page.getByText(fill(T.en["home.welcome"], {
    worker: "an", partner: "ocmw-brussel", role: T.en["role.admin"] })).waitFor();

  // The used link is refused, readable and in the visitor's language.
  const again = await an.page.goto(link);
  assert.equal(again.status(), 410);
  await an.page.getByText(T.en["error.invite_used"]).waitFor();
  await an.context.close();
});

test("a passkey the console does not know is refused", async () => {
  const stranger = await person();
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await stranger.cdp.send("WebAuthn.addCredential", { authenticatorId: stranger.authenticatorId,
    credential: { credentialId: randomBytes(32).toString("base64"), isResidentCredential: true,
      rpId: "localhost", userHandle: randomBytes(16).toString("base64"), signCount: 0,
      privateKey: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64") } });
  await stranger.page.goto(`${ORIGIN}/login`);
  const finish = stranger.page.waitForResponse((r) => r.url().endsWith("/login/finish"));
  await stranger.page.getByRole("button", { name: T.en["login.passkey_button"] }).click();
  assert.equal((await finish).status(), 403);
  await stranger.page.locator("#passkey-error").waitFor({ state: "visible" });
  assert.equal(stranger.page.url(), `${ORIGIN}/login`);
  const home = await stranger.page.goto(`${ORIGIN}/`);
  assert.equal(stranger.page.url(), `${ORIGIN}/login`, "no session was opened");
  assert.ok(home.ok());
  await stranger.context.close();
});

test("an expired invitation and a replaced one are refused", async () => {
  const p = await person();
  const expired = invite("ocmw-brussel", "an2", "worker", ["--valid-for-seconds", "1"]);
  await new Promise((r) => setTimeout(r, 2100));
  const r1 = await p.page.goto(expired);
  assert.equal(r1.status(), 410);
  await p.page.getByText(T.en["error.invite_expired"]).waitFor();
  assert.equal(await p.page.getByRole("button", { name: T.en["enrol.passkey_button"] }).count(), 0);

  const first = invite("ocmw-brussel", "an3");
  const second = invite("ocmw-brussel", "an3");
  const r2 = await p.page.goto(first);
  assert.equal(r2.status(), 410, "a newer invitation replaces the older one");
  const r3 = await p.page.goto(`${ORIGIN}/enrol?invite=${"A".repeat(43)}`);
  assert.equal(r3.status(), 404);
  await p.page.getByText(T.en["error.invite_unknown"]).waitFor();
  await enrol(p, second);
  await p.context.close();
});

test("partner X's admin cannot see or act on partner Y's accounts", async () => {
  const x = await person();
  await signInOrEnrol(x, "ocmw-brussel", "an");
  const y = await person();
  await enrol(y, invite("caw-brussel", "bram", "admin"));
  invite("caw-brussel", "carl");
  await y.page.goto(`${ORIGIN}/admin`);
  const carlRow = y.page.getByRole("row").filter({ hasText: "carl" });
  const action = await carlRow.locator("form").getAttribute("action");
  assert.match(action, /^\/admin\/accounts\/[0-9a-f]{32}\/revoke$/);

  await x.page.goto(`${ORIGIN}/admin`);
  const xText = await x.page.locator("main").innerText();
  assert.ok(!xText.includes("carl") && !xText.includes("bram"), "Y's accounts are not listed for X");
  assert.ok(xText.includes(fill(T.en["admin.title"], { partner: "ocmw-brussel" })));
  await x.page.screenshot({ path: `${SHOTS}/admin-en.png`, fullPage: true });
  const csrf = await csrfOf(x.page);
  // X posts Y's revoke form with X's own valid token: "not found", nothing changes.
  const status = await x.page.evaluate(async ([url, token]) => (await fetch(url, { method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf: token }) })).status, [action, csrf]);
  assert.equal(status, 404);
  // An extra partner field does not move an invitation to Y.
  await x.page.evaluate(async ([token]) => fetch("/admin/invites", { method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf: token, worker: "zed", role: "worker",
      partner: "caw-brussel" }) }), [csrf]);
  await y.page.reload();
  const yText = await y.page.locator("main").innerText();
  assert.ok(yText.includes("carl") && !yText.includes("zed"));
  assert.ok(!yText.includes(T.en["status.revoked"]), "carl is not revoked");
  await x.page.reload();
  assert.ok((await x.page.locator("main").innerText()).includes("zed"));
  // The home page of X names X's partner and only X's.
  await x.page.goto(`${ORIGIN}/`);
  const home = await x.page.locator("body").innerText();
  assert.ok(home.includes("ocmw-brussel") && !home.includes("caw-brussel"));

  // The admin page creates an invitation and revokes within the partner.
  await x.page.goto(`${ORIGIN}/admin`);
  await x.page.getByLabel(T.en["admin.worker_label"]).fill("ann");
  await x.page.getByRole("button", { name: T.en["admin.create_invite"] }).click();
  const link = await x.page.locator("#invite-link").inputValue();
  assert.match(link, /\/enrol\?invite=/);
  await x.page.getByRole("button", { name: fill(T.en["admin.revoke_label"], { worker: "ann" }) })
    .click();
  await x.page.waitForURL(`${ORIGIN}/admin`);
  await x.page.getByRole("row").filter({ hasText: "ann" }).getByText(T.en["status.revoked"]).waitFor();
  const ann = await person();
  assert.equal((await ann.page.goto(link)).status(), 410, "a revoked account's invitation ends");
  await Promise.all([x.context.close(), y.context.close(), ann.context.close()]);
});

test("a revoked account's passkey is refused, and the admin's security page lists it", async () => {
  const admin = await person();
  await enrol(admin, invite("ocmw-brussel", "sec-admin", "admin"));
  const worker = await person();
  await enrol(worker, invite("ocmw-brussel", "sec-worker", "worker"));
  await admin.page.goto(`${ORIGIN}/admin/security`);
  await admin.page.getByText(T.en["security.none"]).waitFor();
  await admin.page.goto(`${ORIGIN}/admin`);
  await admin.page.getByRole("button", { name: fill(T.en["admin.revoke_label"],
    { worker: "sec-worker" }) }).click();
  await admin.page.waitForURL(`${ORIGIN}/admin`);
  // The revoked worker's browser still holds its passkey: signing in with it is refused.
  await worker.page.goto(`${ORIGIN}/`);
  assert.equal(worker.page.url(), `${ORIGIN}/login`, "revoking ends the account's sessions");
  await worker.page.getByRole("button", { name: T.en["login.passkey_button"] }).click();
  await worker.page.getByText(T.en["login.failed"]).waitFor();
  await admin.page.getByRole("link", { name: T.en["security.link"] }).click();
  await admin.page.waitForURL(`${ORIGIN}/admin/security`);
  const row = admin.page.getByRole("row").filter({ hasText: "sec-worker" });
  await row.getByText(T.en["security.kind_revoked_passkey"]).waitFor();  // revoking also revokes its passkeys
  // Another partner's admin sees none of it.
  const other = await person();
  await enrol(other, invite("caw-brussel", "sec-other", "admin"));
  await other.page.goto(`${ORIGIN}/admin/security`);
  await other.page.getByText(T.en["security.none"]).waitFor();
  await Promise.all([admin.context.close(), worker.context.close(), other.context.close()]);
});

async function signInOrEnrol(p, partner, worker) {
  await enrol(p, invite(partner, worker, "admin"));
}

test("a cross-site POST and a POST without the form token are refused", async () => {
  const x = await person();
  await enrol(x, invite("ocmw-brussel", "an", "admin"));
  await x.page.goto(`${ORIGIN}/`);
  const csrf = await csrfOf(x.page);
  // Another site (127.0.0.1 is another site than localhost) with a form aimed at the console.
  const evil = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(`<!DOCTYPE html><html lang="en"><title>x</title><form method="post"
      action="${ORIGIN}/logout/everywhere"><input type="hidden" name="csrf" value="${csrf}">
      <button>go</button></form><a href="${ORIGIN}/">to the console</a></html>`);
  });
  await new Promise((r) => evil.listen(0, "127.0.0.1", r));
  await x.page.goto(`http://127.0.0.1:${evil.address().port}/`);
  const [answer] = await Promise.all([
    x.page.waitForResponse((r) => r.url().startsWith(ORIGIN)),
    x.page.getByRole("button", { name: "go" }).click(),
  ]);
  assert.equal(answer.status(), 403);
  await x.page.getByText(T.en["error.cross_site"]).waitFor();
  // A plain link from another site: the Strict cookie is not sent on that navigation, so the
  // console reloads the page same-origin (with the cookie) instead of starting a new session.
  await x.page.goto(`http://127.0.0.1:${evil.address().port}/`);
  await x.page.getByRole("link", { name: "to the console" }).click();
  await x.page.getByText(fill(T.en["home.welcome"], {
    worker: "an", partner: "ocmw-brussel", role: T.en["role.admin"] })).waitFor();
  assert.equal(x.page.url(), `${ORIGIN}/`);
  evil.close();
  // The same with the session cookie attached (a browser without SameSite): still refused.
  const forged = await x.context.request.post(`${ORIGIN}/logout/everywhere`, {
    headers: { "Sec-Fetch-Site": "cross-site", Origin: "http://evil.example" },
    form: { csrf }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  const noToken = await x.page.evaluate(async () => (await fetch("/logout/everywhere", {
    method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "csrf=wrong" })).status);
  assert.equal(noToken, 403);
  await x.page.goto(`${ORIGIN}/`);
  assert.equal(x.page.url(), `${ORIGIN}/`, "the session survived every refused request");
  // GET changes nothing: the logout routes do not exist for GET.
  const get = await x.page.goto(`${ORIGIN}/logout/everywhere`);
  assert.equal(get.status(), 404);
  await x.page.goto(`${ORIGIN}/`);
  assert.equal(x.page.url(), `${ORIGIN}/`);
  // Log out everywhere ends this session and a second one.
  const second = await person();
  const { credentials } = await x.cdp.send("WebAuthn.getCredentials",
    { authenticatorId: x.authenticatorId });
  await second.cdp.send("WebAuthn.addCredential", { authenticatorId: second.authenticatorId,
    credential: credentials[0] });
  await signIn(second);
  await x.page.getByRole("button", { name: T.en["home.logout_everywhere"] }).click();
  await x.page.waitForURL(`${ORIGIN}/login`);
  await second.page.goto(`${ORIGIN}/`);
  assert.equal(second.page.url(), `${ORIGIN}/login`, "the other session ended too");
  await Promise.all([x.context.close(), second.context.close()]);
});

test("every page in Dutch, French and English; axe finds nothing serious; screenshots", async () => {
  for (const lang of ["nl", "fr", "en"]) {
    const p = await person(lang === "nl" ? "nl-BE" : lang === "fr" ? "fr-BE" : "en-GB");
    const pages = [];
    await p.page.goto(`${ORIGIN}/login`);
    pages.push(["login", T[lang]["login.title"]]);
    await checkPage(p.page, lang, T[lang]["login.title"], `login-${lang}`);
    const link = invite("ocmw-brussel", `admin-${lang}`, "admin");
    await p.page.goto(link);
    await checkPage(p.page, lang, T[lang]["enrol.title"], `enrol-${lang}`);
    await p.page.getByRole("button", { name: T[lang]["enrol.passkey_button"] }).click();
    await p.page.waitForURL(`${ORIGIN}/`);
    await checkPage(p.page, lang, T[lang]["home.title"], `home-${lang}`);
    await p.page.goto(`${ORIGIN}/admin`);
    await checkPage(p.page, lang, fill(T[lang]["admin.title"], { partner: "ocmw-brussel" }),
      `admin-${lang}`);
    await p.page.goto(`${ORIGIN}/admin/security`);
    await checkPage(p.page, lang, T[lang]["security.title"], `admin-security-${lang}`);
    const r = await p.page.goto(`${ORIGIN}/no-such-page`);
    assert.equal(r.status(), 404);
    await checkPage(p.page, lang, T[lang]["error.not_found_title"], `error-${lang}`);
    await p.context.close();
  }
  // The switcher: a Dutch browser chooses French on the sign-in page.
  const p = await person("nl-BE");
  await p.page.goto(`${ORIGIN}/login`);
  await p.page.getByRole("button", { name: "Français" }).click();
  await p.page.getByRole("heading", { name: T.fr["login.title"] }).waitFor();
  await p.page.goto(`${ORIGIN}/login?lang=en`);
  await p.page.getByRole("heading", { name: T.en["login.title"] }).waitFor();
  await p.context.close();
});

async function checkPage(page, lang, heading, shot) {
  assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
  assert.equal((await page.locator("h1").innerText()).trim(), heading, shot);
  const text = await page.locator("body").innerText();
  assert.ok(!/\{\{|\}\}|\b(login|enrol|home|admin|error|layout|nav|gateway|security)\.[a-z_]+\b/.test(text),
    `${shot}: a template tag or catalogue key shows`);
  await noInlineCode(page, shot);
  await axeCheck(page, shot);
  await page.screenshot({ path: `${SHOTS}/${shot}.png`, fullPage: true });
}

test("every console response carries the security headers and its own CSP nonce", async () => {
  assert.ok(responses.length > 50, `saw ${responses.length} responses`);
  const csp = /^default-src 'none'; script-src 'self' 'nonce-([A-Za-z0-9_-]{22})'; style-src 'self' 'nonce-\1'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/;
  const nonces = new Set();
  for (const r of responses) {
    const m = (r.headers["content-security-policy"] || "").match(csp);
    assert.ok(m, `CSP on ${r.url}: ${r.headers["content-security-policy"]}`);
    nonces.add(m[1]);
    assert.equal(r.headers["referrer-policy"], "no-referrer", r.url);
    assert.equal(r.headers["cache-control"], "no-store", r.url);
    assert.equal(r.headers["x-content-type-options"], "nosniff", r.url);
  }
  assert.equal(nonces.size, responses.length, "a fresh nonce for every response");
  const html = responses.filter((r) => r.type.startsWith("text/html"));
  assert.ok(html.length > 10);
});
