// sluis-console as production runs it: https with its own certificate, in a Chromium that trusts
// exactly that certificate's key (as managed browsers trust an organisation's certificate). A
// secure context without any warning, HSTS, Secure cookies, enrolment and sign-in with a passkey.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";
import { T } from "./lib.mjs";

const ORIGIN = process.env.HTTPS_URL;
let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true,
    args: ["--no-sandbox", `--ignore-certificate-errors-spki-list=${process.env.HTTPS_SPKI}`] });
});
after(async () => { await browser?.close(); });

test("over https: a secure context without a warning, HSTS, Secure cookies, passkey sign-in", async () => {
  const context = await browser.newContext({ locale: "en-GB" });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", { options: { protocol: "ctap2",
    transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
    automaticPresenceSimulation: true } });
  const link = execFileSync(process.env.CONSOLE_BIN, ["account", "invite", "--config",
    process.env.HTTPS_CONFIG, "--partner", "ocmw-brussel", "--worker", "https-admin", "--role",
    "admin"], { encoding: "utf8" }).trim();
  assert.ok(link.startsWith(`${ORIGIN}/enrol?invite=`), link);
  const first = await page.goto(link);
  assert.equal(first.status(), 200);
  assert.equal(await page.evaluate(() => window.isSecureContext), true);
  assert.equal(new URL(page.url()).protocol, "https:");
  assert.equal(first.headers()["strict-transport-security"], "max-age=31536000");
  await page.getByRole("button", { name: T.en["enrol.passkey_button"] }).click();
  await page.waitForURL(`${ORIGIN}/`);
  const cookie = (await context.cookies()).find((c) => c.name === "__Host-sluis-session");
  assert.ok(cookie && cookie.secure && cookie.httpOnly && cookie.sameSite === "Strict");
  await page.getByRole("button", { name: T.en["layout.log_out"], exact: true }).click();
  await page.waitForURL(`${ORIGIN}/login`);
  await page.getByRole("button", { name: T.en["login.passkey_button"] }).click();
  await page.waitForURL(`${ORIGIN}/`);
  const home = await page.goto(`${ORIGIN}/`);
  assert.equal(home.headers()["strict-transport-security"], "max-age=31536000");
  await context.close();
});
