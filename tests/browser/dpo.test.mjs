// The partner DPO's pages in a real Chromium: a CAW worker (bart) breaks the glass on a client
// of the OCMW's worker (olga); the OCMW's DPO (dora) sees the grant and the access in the review
// queue and records the review, finds it among the audit events, sees the charts, prints an
// access report in French to PDF and sees the audit log healthy; the OCMW's console admin (adam)
// sees which sluisd workers have a console account. Every page in nl/fr/en, axe-core clean,
// screenshots docs/console/dpo-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import https from "node:https";
import {
  ORIGIN, T, invite, person, enrol, axeCheck, noInlineCode, shot,
} from "./lib.mjs";

// --- sluisd, called as the partners' case systems call it (to set the scene) --------------------

const GW = process.env.GATEWAY_HOME;
const PORT = Number(readFileSync(process.env.CONSOLE_CONFIG, "utf8").match(/gateway_port = (\d+)/)[1]);

function sluisd(partner, worker, method, path, body, purpose) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: "127.0.0.1", port: PORT, method, path, servername: "localhost",
      ca: readFileSync(`${GW}/tls/ca.crt`),
      cert: readFileSync(`${GW}/partners/${partner}/${partner}.crt`),
      key: readFileSync(`${GW}/partners/${partner}/${partner}.key`),
      headers: { "Sluis-Worker": worker, ...(purpose ? { "Sluis-Purpose": purpose } : {}),
        ...(body ? { "Content-Type": "application/json" } : {}) },
    }, (res) => {
      let data = "";
      res.on("data", (c) => { data += c; });
      res.on("end", () => resolve({ status: res.statusCode, body: data }));
    });
    req.on("error", reject);
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

// The DPO area's own catalogue entries, hyphenated keys too (lib's T reads [a-z_0-9] keys only).
function dpoStrings(lang) {
  const out = {};
  let section = "";
  for (const line of readFileSync(`${process.env.CATALOGUES}/dpo.${lang}.toml`, "utf8").split("\n")) {
    const s = line.match(/^\[(.+)\]$/);
    if (s) section = s[1];
    const kv = line.match(/^([a-z_0-9-]+) = "(.*)"$/);
    if (kv) out[`${section}.${kv[1]}`] = kv[2].replace(/\\"/g, '"');
  }
  return out;
}
const D = { nl: dpoStrings("nl"), fr: dpoStrings("fr"), en: dpoStrings("en") };
const LANGS = ["nl", "fr", "en"];  // ends in English

async function inLanguage(page, lang) {
  await Promise.all([page.waitForEvent("load"),
    page.locator(`form.languages button[value="${lang}"]`).click()]);
  assert.equal(await page.getAttribute("html", "lang"), lang);
}

/// Opens `path` in every language: the page's title text is there, axe-core finds nothing
/// serious, no inline code; a screenshot in English. Ends in English.
async function everyLanguage(page, path, titleKey, name) {
  await page.goto(`${ORIGIN}${path}`);
  for (const lang of ["nl", "fr", "en"]) {
    await inLanguage(page, lang);
    await page.getByRole("heading", { level: 1, name: D[lang][titleKey] }).waitFor();
    await axeCheck(page, `${path} (${lang})`);
    await noInlineCode(page, `${path} (${lang})`);
  }
  await shot(page, name);
}

test("DPO: break-the-glass review, audit events, charts, access report, log health", async () => {
  // The scene: olga's client at the OCMW, the CAW's bart opens it in an emergency and reads.
  const person_nr = "85072012345".slice(0, 9);
  const nr = person_nr + String(97 - (Number(person_nr) % 97)).padStart(2, "0");
  const reg = { identifier: { scheme: "national-register", value: nr } };
  const atOcmw = await sluisd("ocmw-brussel", "olga", "POST", "/v1/clients", reg);
  assert.ok([200, 201].includes(atOcmw.status), atOcmw.body);
  const olgaClient = JSON.parse(atOcmw.body).client;
  assert.equal((await sluisd("ocmw-brussel", "olga", "POST", `/v1/clients/${olgaClient}/fragments`,
    { category: "contact", fields: { phone: "0470 99 88 77" } })).status, 201);
  const atCaw = await sluisd("caw-brussel", "bart", "POST", "/v1/clients", reg);
  const bartClient = JSON.parse(atCaw.body).client;
  const grant = await sluisd("caw-brussel", "bart", "POST", `/v1/clients/${bartClient}/break-glass`,
    { categories: ["contact"], reason: "found unconscious in the street, family must be reached",
      minutes: 60 });
  assert.equal(grant.status, 201, grant.body);
  const grantId = JSON.parse(grant.body).grant;
  const read = await sluisd("caw-brussel", "bart", "GET", `/v1/clients/${bartClient}/dossier`,
    null, "emergency");
  assert.equal(read.status, 200);

  const dora = await person();
  await enrol(dora, invite("ocmw-brussel", "dora", "dpo"));
  const page = dora.page;

  // The overview: four server-drawn charts, each an SVG with an accessible name and its numbers.
  await everyLanguage(page, "/dpo", "dpo_home.title", "dpo-home");
  const charts = page.locator("figure svg[role=img]");
  assert.equal(await charts.count(), 4);
  for (const key of ["reads", "purposes", "denials", "break_glass"]) {
    await page.locator("svg title", { hasText: D.en[`dpo_charts.${key}_title`] }).first().waitFor({ state: "attached" });
  }
  assert.ok(await page.locator("details table").count() >= 4, "each chart has its data table");

  // The review queue: the grant and bart's access, not yet reviewed.
  await everyLanguage(page, "/dpo/break-glass", "dpo_review.title", "dpo-review");
  const card = page.locator("section.grant", { hasText: grantId });
  await card.waitFor();
  assert.ok(await card.getByText(D.en["dpo_review.to_review_mark"]).isVisible());
  await card.locator("table.accesses").getByText("bart").waitFor();
  // The written reason is the CAW's: not shown to the OCMW's DPO.
  assert.equal(await card.getByText("found unconscious").count(), 0);

  // A review without a note is refused with a readable page and changes nothing.
  const csrf = await card.locator('input[name="csrf"]').getAttribute("value");
  const refused = await page.evaluate(async ({ grantId, csrf }) => {
    const r = await fetch(`/dpo/break-glass/${grantId}/review`, { method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, outcome: "justified", note: "  " }) });
    return { status: r.status, text: await r.text() };
  }, { grantId, csrf });
  assert.equal(refused.status, 400);
  assert.ok(refused.text.includes(D.en["dpo_review.note_required"]));
  const badOutcome = await page.evaluate(async ({ grantId, csrf }) => {
    const r = await fetch(`/dpo/break-glass/${grantId}/review`, { method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, outcome: "fine", note: "a note" }) });
    return r.status;
  }, { grantId, csrf });
  assert.equal(badOutcome, 400);
  await page.reload();
  assert.ok(await page.locator("section.grant", { hasText: grantId })
    .getByText(D.en["dpo_review.to_review_mark"]).isVisible(), "still to review");

  // The review, with the keyboard-reachable form.
  const form = page.locator("section.grant", { hasText: grantId });
  await form.getByLabel(D.en["dpo_outcome.justified"], { exact: true }).check();
  await form.getByLabel(D.en["dpo_review.note"]).fill("Asked the CAW's team lead: the client was unconscious; justified.");
  await form.getByRole("button", { name: D.en["dpo_review.submit"] }).click();
  await page.waitForURL(`${ORIGIN}/dpo/break-glass?reviewed=1`);
  await page.getByText(D.en["dpo_review.saved"]).waitFor();
  const done = page.locator("section.grant.is-reviewed", { hasText: grantId });
  await done.getByText(D.en["dpo_outcome.justified"], { exact: true }).waitFor();
  await done.getByText("the client was unconscious").waitFor();
  assert.equal(await done.locator("form").count(), 0, "a reviewed grant has no form");
  await shot(page, "dpo-review-done");

  // The review is an audit event, found by its action.
  await everyLanguage(page, "/dpo/events", "dpo_events.title", "dpo-events");
  await page.goto(`${ORIGIN}/dpo/events?action=break-glass-review`);
  const row = page.locator("table.events tbody tr", { has: page.locator('[data-action="break-glass-review"]') });
  await row.first().waitFor();
  assert.ok((await row.first().textContent()).includes("dora"));
  assert.ok((await row.first().textContent()).includes(D.en["dpo_action.break-glass-review"]));
  await shot(page, "dpo-events-review");
  // Bad filters: a readable page, nothing else.
  const badDate = await page.goto(`${ORIGIN}/dpo/events?from=2026-13-45`);
  assert.equal(badDate.status(), 400);
  await page.getByText(D.en["dpo_events.bad_date"]).waitFor();

  // The access request: olga's client's report in French, printed to A4.
  await everyLanguage(page, "/dpo/access-report", "dpo_access.title", "dpo-access");
  await page.getByLabel(D.en["dpo_access.client"]).fill(olgaClient);
  await page.getByLabel(D.en["dpo_access.language"]).selectOption("fr");
  await page.getByRole("button", { name: D.en["dpo_access.show"] }).click();
  await page.waitForURL(/\/dpo\/access-report\/print\?/);
  assert.equal(await page.getAttribute("html", "lang"), "fr");
  await page.getByText("ACCÈS D'URGENCE", { exact: false }).first().waitFor();
  assert.ok(await page.locator("[data-print]").isVisible());
  await axeCheck(page, "access report (fr)");
  await noInlineCode(page, "access report (fr)");
  await shot(page, "dpo-access-report");
  const pdf = await page.pdf({ format: "A4", preferCSSPageSize: true });
  assert.equal(pdf.subarray(0, 5).toString(), "%PDF-");
  const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) || []).length;
  assert.ok(pages > 0, "the report prints on at least one A4 page");
  // A malformed reference: readable, in the page's language.
  const bad = await page.goto(`${ORIGIN}/dpo/access-report/print?client=x&lang=fr`);
  assert.equal(bad.status(), 400);

  // The log's health: the console witnessed the log and it only grew.
  await everyLanguage(page, "/dpo/log-health", "dpo_log.title", "dpo-log-health");
  await page.locator("#witness-healthy").waitFor();
  assert.equal(await page.locator("#witness-alert").count(), 0);
  await page.reload();  // a second observation: grown or unchanged, still healthy
  await page.locator("#witness-healthy").waitFor();
  await dora.context.close();
});

test("console admin: which of the partner's sluisd workers have a console account", async () => {
  const adam = await person();
  await enrol(adam, invite("ocmw-brussel", "adam", "admin"));
  await adam.page.goto(`${ORIGIN}/admin`);
  for (const lang of LANGS) {
    await inLanguage(adam.page, lang);
    await adam.page.getByRole("heading", { level: 2, name: D[lang]["dpo_admin.title"] }).waitFor();
    await axeCheck(adam.page, `admin (${lang})`);
  }
  const table = adam.page.locator("table.workers");
  const rowOf = (w) => table.locator("tr", { has: adam.page.locator("td", { hasText: new RegExp(`^${w}$`) }) });
  assert.ok((await rowOf("adam").textContent()).includes(D.en["dpo_admin.has_account"]));
  assert.ok((await rowOf("olga").textContent()).includes(D.en["dpo_admin.no_account"]));
  // Only the OCMW's workers: the CAW's bart is not there.
  assert.equal(await rowOf("bart").count(), 0);
  await shot(adam.page, "dpo-admin-workers");
  await adam.context.close();
});
