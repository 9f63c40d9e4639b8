// What every browser test of sluis-console shares: the catalogues as a person sees them, the
// Chromium instance, a person with a CDP virtual passkey authenticator, enrolment and sign-in,
// axe-core and inline-code checks, screenshots into docs/console/.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const ORIGIN = process.env.CONSOLE_URL;
export const SHOTS = process.env.SCREENSHOTS;
mkdirSync(SHOTS, { recursive: true });

// The catalogues, read as the console reads them ([section] key = "value"), to assert on what a
// person sees in each language.
function catalogue(lang) {
  const out = {};
  const dir = process.env.CATALOGUES;
  const files = [`${lang}.toml`, ...readdirSync(dir).filter((f) => f.endsWith(`.${lang}.toml`)).sort()];
  for (const file of files) {
    let section = "";
    for (const line of readFileSync(`${dir}/${file}`, "utf8").split("\n")) {
      const s = line.match(/^\[(.+)\]$/);
      if (s) section = s[1];
      const kv = line.match(/^([a-z_0-9]+) = "(.*)"$/);
      if (kv) out[`${section}.${kv[1]}`] = kv[2].replace(/\\"/g, '"');
    }
  }
  return out;
}
export const T = { nl: catalogue("nl"), fr: catalogue("fr"), en: catalogue("en") };
export const fill = (s, v) => s.replace(/\{([a-z_]+)\}/g, (_, k) => v[k]);

export function invite(partner, worker, role = "worker", extra = []) {
  return execFileSync(process.env.CONSOLE_BIN, ["account", "invite", "--config",
    process.env.CONSOLE_CONFIG, "--partner", partner, "--worker", worker, "--role", role, ...extra],
  { encoding: "utf8" }).trim();
}

export let browser;
export const responses = [];  // every console response any page received
before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true,
    args: ["--no-sandbox"] });
});
after(async () => { await browser?.close(); });

/// A person at a browser: own context (cookies), a page and a virtual passkey authenticator.
export async function person(locale = "en-GB") {
  const context = await browser.newContext({ locale });
  const page = await context.newPage();
  page.on("response", (r) => {
    if (r.url().startsWith(ORIGIN)) responses.push({ url: r.url(), status: r.status(),
      headers: r.headers(), type: r.headers()["content-type"] || "" });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", { options: {
    protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
    isUserVerified: true, automaticPresenceSimulation: true } });
  return { context, page, cdp, authenticatorId };
}

export async function enrol(p, link, lang = "en") {
  await p.page.goto(link);
  await p.page.getByRole("button", { name: T[lang]["enrol.passkey_button"] }).click();
  await p.page.waitForURL(`${ORIGIN}/`);
}

export async function signIn(p, lang = "en") {
  await p.page.goto(`${ORIGIN}/login`);
  await p.page.getByRole("button", { name: T[lang]["login.passkey_button"] }).click();
  await p.page.waitForURL(`${ORIGIN}/`);
}

export async function csrfOf(page) {
  return page.locator('input[name="csrf"]').first().getAttribute("value");
}

export async function axeCheck(page, what) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, {
    runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `axe on ${what}`);
}

export async function noInlineCode(page, what) {
  const inline = await page.evaluate(() => ({
    scripts: [...document.scripts].filter((s) => !s.src).length,
    styles: document.querySelectorAll("style").length,
    styleAttrs: document.querySelectorAll("[style]").length,
    handlers: [...document.querySelectorAll("*")].filter((e) =>
      [...e.attributes].some((a) => a.name.startsWith("on"))).length,
  }));
  assert.deepEqual(inline, { scripts: 0, styles: 0, styleAttrs: 0, handlers: 0 }, what);
}

/// A full-page screenshot into docs/console/<name>.png (the console guide shows every page).
export async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}
