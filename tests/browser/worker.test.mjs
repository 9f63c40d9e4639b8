// The worker's pages in a real Chromium: the worker half of the demo story — wanda (OCMW)
// registers a client, walt (CAW) reads and sees nothing, wanda records consent and prints the
// receipt (a PDF on A4), walt reads the consented fragment, wanda withdraws in two clicks, walt's
// read is empty again, walt breaks the glass, the access report prints in French — every page in
// nl/fr/en, axe-core clean, screenshots, and walt refused wanda's client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ORIGIN, T, fill, invite, person, enrol, axeCheck, noInlineCode, shot } from "./lib.mjs";

// A valid national register number (check digits 97 - n mod 97), born before 2000.
function registerNumber(yymmddsss) {
  const check = 97 - (yymmddsss % 97);
  return String(yymmddsss).padStart(9, "0") + String(check).padStart(2, "0");
}
const NUMBER = registerNumber(850730033);
const FRAGMENT_TEXT = "Sleeps at the night shelter since November";

async function language(page, lang) {
  await page.getByRole("button", { name: T[lang][`language.${lang}`], exact: true }).click();
  await page.waitForLoadState("load");
}

// The page in all three languages: its heading in each, axe-clean in each, a screenshot of each.
async function inThreeLanguages(page, heading, name) {
  for (const lang of ["nl", "fr", "en"]) {
    await language(page, lang);
    assert.equal(await page.locator("html").getAttribute("lang"), lang);
    await page.getByRole("heading", { level: 1, name: T[lang][heading] }).first().waitFor();
    await axeCheck(page, `${name} (${lang})`);
    await noInlineCode(page, `${name} (${lang})`);
    await shot(page, `worker-${name}-${lang}`);
  }
}

// The PDF Chromium prints of the current page: its page count, and whether every page is A4.
async function printedPdf(page) {
  await page.emulateMedia({ media: "print" });
  const pdf = (await page.pdf({ preferCSSPageSize: true, printBackground: true })).toString("latin1");
  await page.emulateMedia({ media: "screen" });
  const pages = pdf.match(/\/Type\s*\/Page(?![a-z])/g) || [];
  const boxes = [...pdf.matchAll(/\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/g)];
  const a4 = boxes.length > 0 && boxes.every((m) =>
    Math.abs(Number(m[1]) - 595.3) < 2 && Math.abs(Number(m[2]) - 841.9) < 2);
  return { pages: pages.length, a4 };
}

async function readFor(page, client, purpose) {
  await page.goto(`${ORIGIN}/clients/${client}?purpose=${purpose}`);
  return page.locator("#dossier").innerText();
}

test("the worker's demo story: register, denied read, consent and receipt, withdrawal, " +
     "break-the-glass, access report, cross-partner refusal", async () => {
  const wanda = await person();
  await enrol(wanda, invite("ocmw-brussel", "wanda"));
  const walt = await person();
  await enrol(walt, invite("caw-brussel", "walt"));

  // --- wanda: My clients, a wrong number refused in the page, then registration with a label.
  await wanda.page.goto(`${ORIGIN}/clients`);
  await inThreeLanguages(wanda.page, "worker.clients_heading", "clients");
  await wanda.page.locator("#number").fill("85.07.30-033.29");
  await wanda.page.getByRole("button", { name: T.en["worker.register_button"] }).click();
  await wanda.page.getByText(T.en["worker.register_invalid"]).waitFor();
  assert.equal(wanda.page.url(), `${ORIGIN}/clients`, "a wrong check number is not sent");
  // The same refusal from the server when the page's check is bypassed; nothing registered.
  const bypass = await wanda.page.evaluate(async (n) => {
    const csrf = document.querySelector('input[name="csrf"]').value;
    const r = await fetch("/clients", { method: "POST", headers: {
      "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, scheme: "national-register", number: n, label: "" }) });
    return { status: r.status, text: await r.text() };
  }, "85073003329");
  assert.equal(bypass.status, 422);
  assert.ok(bypass.text.includes(T.en["worker.register_invalid"]));

  await wanda.page.locator("#number").fill(NUMBER);
  await wanda.page.locator("#new-label").fill("KV-2026-01");
  await wanda.page.getByRole("button", { name: T.en["worker.register_button"] }).click();
  await wanda.page.waitForURL(/\/clients\/p1[a-z0-9]+$/);
  const wandaClient = wanda.page.url().split("/").pop();
  // The console keeps the number nowhere the browser can see and no log has it.
  assert.ok(!(await wanda.page.content()).includes(NUMBER));

  // Search by label.
  await wanda.page.goto(`${ORIGIN}/clients`);
  await wanda.page.locator("#search-label").fill("kv-2026");
  await wanda.page.getByRole("button", { name: T.en["worker.search_button"] }).click();
  await wanda.page.waitForURL(/\/clients\?q=/);
  await wanda.page.getByRole("link", { name: wandaClient }).waitFor();
  await wanda.page.locator("#search-label").fill("Élodie");
  await wanda.page.getByRole("button", { name: T.en["worker.search_button"] }).click();
  await wanda.page.getByText(T.en["worker.caseload_empty"]).waitFor();
  assert.equal(await wanda.page.locator("#search-label").inputValue(), "Élodie");
  await shot(wanda.page, "worker-clients-search-en");

  // --- wanda: the client's page; a fragment from the rule pack's categories.
  await wanda.page.goto(`${ORIGIN}/clients/${wandaClient}`);
  await inThreeLanguages(wanda.page, "worker.client_heading", "client");
  assert.equal(await wanda.page.locator("#client-label").inputValue(), "KV-2026-01");
  await wanda.page.locator("#fragment-category").selectOption("housing");
  await wanda.page.locator("#value1").fill(FRAGMENT_TEXT);
  await wanda.page.getByRole("button", { name: T.en["worker.fragment_button"] }).click();
  await wanda.page.waitForURL(/purpose=care-coordination$/);
  await wanda.page.getByText(FRAGMENT_TEXT).waitFor();
  await shot(wanda.page, "worker-client-dossier-en");

  // --- walt (CAW): the same person, his own pseudonym; the OCMW's fragment is not there, and
  // nothing on the page hints that something was withheld.
  await walt.page.goto(`${ORIGIN}/clients`);
  await walt.page.locator("#number").fill(NUMBER);
  await walt.page.getByRole("button", { name: T.en["worker.register_button"] }).click();
  await walt.page.waitForURL(/\/clients\/p1[a-z0-9]+$/);
  const waltClient = walt.page.url().split("/").pop();
  assert.notEqual(waltClient, wandaClient);
  assert.equal((await readFor(walt.page, waltClient, "care-coordination")).trim(), "");
  await walt.page.getByText(T.en["worker.dossier_empty"]).waitFor();
  const deniedHtml = await walt.page.content();
  assert.ok(!deniedHtml.includes("housing") || !deniedHtml.includes(FRAGMENT_TEXT));
  assert.ok(!deniedHtml.includes(FRAGMENT_TEXT));

  // --- wanda records consent for the CAW (housing, care coordination, in French) and prints
  // the receipt: a PDF on A4.
  await wanda.page.goto(`${ORIGIN}/clients/${wandaClient}`);
  await wanda.page.locator("#grantee").selectOption("caw-brussel");
  await wanda.page.locator("#c-x-housing").check();
  await wanda.page.locator("#p-x-care-coordination").check();
  await wanda.page.locator("#consent-language").selectOption("fr");
  await wanda.page.getByRole("button", { name: T.en["worker.consent_button"] }).click();
  await wanda.page.waitForURL(/\/consents\/[a-z0-9-]+\/receipt$/);
  assert.equal(await wanda.page.locator("html").getAttribute("lang"), "fr",
    "the receipt is in the client's language");
  await wanda.page.getByRole("button", { name: T.en["worker.print_button"] }).waitFor();
  assert.equal(await wanda.page.locator("[data-print]").count(), 1);
  await axeCheck(wanda.page, "consent receipt");
  await noInlineCode(wanda.page, "consent receipt");
  await shot(wanda.page, "worker-receipt");
  const receiptPdf = await printedPdf(wanda.page);
  assert.equal(receiptPdf.pages, 1, "the receipt prints on one page");
  assert.ok(receiptPdf.a4, "the receipt prints on A4");

  // --- walt now reads the consented fragment.
  assert.ok((await readFor(walt.page, waltClient, "care-coordination")).includes(FRAGMENT_TEXT));

  // --- wanda withdraws in two clicks: the link, then the confirmation (a POST).
  await wanda.page.goto(`${ORIGIN}/clients/${wandaClient}`);
  await wanda.page.getByRole("link", { name: T.en["worker.withdraw_link"] }).click();
  await wanda.page.getByRole("heading", { name: T.en["worker.withdraw_heading"] }).waitFor();
  await axeCheck(wanda.page, "withdraw confirmation");
  await shot(wanda.page, "worker-withdraw");
  for (const lang of ["nl", "fr", "en"]) {
    await language(wanda.page, lang);
    await wanda.page.getByRole("heading", { name: T[lang]["worker.withdraw_heading"] }).waitFor();
  }
  await wanda.page.getByRole("button", { name: T.en["worker.withdraw_confirm"] }).click();
  await wanda.page.waitForURL(`${ORIGIN}/clients/${wandaClient}`);
  await wanda.page.getByRole("cell", { name: T.en["worker.consent_status_revoked"] }).waitFor();

  // --- walt's read is empty again.
  assert.equal((await readFor(walt.page, waltClient, "care-coordination")).trim(), "");

  // --- walt breaks the glass: a short reason is refused readably, then the grant's end shown.
  await walt.page.goto(`${ORIGIN}/clients/${waltClient}`);
  await walt.page.getByText(T.en["worker.glass_warning"]).waitFor();
  await walt.page.locator("#g-x-contact").check();
  await walt.page.locator("#glass-reason").evaluate((e) => e.removeAttribute("minlength"));
  await walt.page.locator("#glass-reason").fill("urgent");
  await walt.page.getByRole("button", { name: T.en["worker.glass_button"] }).click();
  await walt.page.getByText(fill(T.en["worker.reason_length"], { min: "20", max: "500" })).waitFor();
  await axeCheck(walt.page, "break-the-glass refusal");
  await walt.page.goto(`${ORIGIN}/clients/${waltClient}`);
  await walt.page.locator("#g-x-contact").check();
  await walt.page.locator("#glass-reason").fill(
    "The client collapsed at our office and the ambulance needs the housing situation.");
  await walt.page.locator("#glass-minutes").fill("30");
  await walt.page.getByRole("button", { name: T.en["worker.glass_button"] }).click();
  await walt.page.getByRole("heading", { name: T.en["worker.glass_granted_heading"] }).waitFor();
  const end = await walt.page.locator("#glass-end").innerText();
  assert.match(end, /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/, "the grant's end is shown");
  await inThreeLanguages(walt.page, "worker.glass_granted_heading", "glass");

  // --- the access report, printed in French.
  await wanda.page.goto(`${ORIGIN}/clients/${wandaClient}/access-report?lang=fr`);
  assert.equal(await wanda.page.locator("html").getAttribute("lang"), "fr");
  await axeCheck(wanda.page, "access report");
  await noInlineCode(wanda.page, "access report");
  await shot(wanda.page, "worker-access-report-fr");
  const reportPdf = await printedPdf(wanda.page);
  assert.ok(reportPdf.pages >= 1);
  assert.ok(reportPdf.a4, "the access report prints on A4");

  // --- walt asks for wanda's client by her pseudonym: refused, readable, nothing shown.
  const cross = await walt.page.goto(`${ORIGIN}/clients/${wandaClient}`);
  assert.equal(cross.status(), 404);
  await walt.page.getByText(T.en["worker.no_client_title"]).or(
    walt.page.getByText("Your organisation has no client with this reference.")).first().waitFor();
  assert.ok(!(await walt.page.content()).includes("KV-2026-01"));
  await axeCheck(walt.page, "cross-partner refusal");
  await shot(walt.page, "worker-cross-partner");
  const crossReceipt = await walt.page.goto(`${ORIGIN}/clients/${wandaClient}/access-report`);
  assert.equal(crossReceipt.status(), 404);

  // Neither log holds the number, the label or the fragment's text.
  for (const log of [process.env.CONSOLE_LOG, process.env.SLUISD_LOG]) {
    const text = readFileSync(log, "utf8");
    for (const secret of [NUMBER, "KV-2026-01", FRAGMENT_TEXT]) {
      assert.ok(!text.includes(secret), `${secret} in ${log}`);
    }
  }
  await wanda.context.close();
  await walt.context.close();
});
