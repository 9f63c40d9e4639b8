// The whole demo story through the console, in order, the areas handing over through the real
// sluisd: an OCMW worker registers a client, the CAW's read of the same person looks empty,
// consent with a printed receipt opens it, withdrawal closes it, two low-threshold services
// share a guest by an anonymous card (its code never leaves the browser), the CAW breaks the
// glass, the OCMW's DPO reviews it and prints the client's access report in French.
// Partners and workers of this file (tests/browser/run.sh): ocmw-story (sonja, dina the DPO),
// caw-story (stef), straat-story (sara), nacht-story (simon).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ORIGIN, T, invite, person, enrol, axeCheck, noInlineCode } from "./lib.mjs";

function strings(file) {
  const out = {};
  let section = "";
  for (const line of readFileSync(`${process.env.CATALOGUES}/${file}`, "utf8").split("\n")) {
    const s = line.match(/^\[(.+)\]$/);
    if (s) section = s[1];
    const kv = line.match(/^([a-z_0-9-]+) = "(.*)"$/);
    if (kv) out[`${section}.${kv[1]}`] = kv[2].replace(/\\"/g, '"');
  }
  return out;
}
const D = { fr: strings("dpo.fr.toml"), en: strings("dpo.en.toml") };
const fillIn = (s, v) => s.replace(/\{([a-z_]+)\}/g, (_, k) => v[k] ?? "");

function registerNumber(yymmddsss) {
  return String(yymmddsss).padStart(9, "0") + String(97 - (yymmddsss % 97)).padStart(2, "0");
}
const NUMBER = registerNumber(770412158);
const HOUSING = "Rents a room above the bakery, the lease ends in March";
const PHONE = "0470 12 34 56";
const REASON = "The client fainted in our waiting room; the ambulance asks whom to call.";

async function readFor(page, client, purpose) {
  await page.goto(`${ORIGIN}/clients/${client}?purpose=${purpose}`);
  return page.locator("#dossier").innerText();
}

async function printedPdf(page) {
  await page.emulateMedia({ media: "print" });
  const buf = await page.pdf({ preferCSSPageSize: true, printBackground: true });
  const text = await page.locator("body").innerText();
  await page.emulateMedia({ media: "screen" });
  const pdf = buf.toString("latin1");
  const boxes = [...pdf.matchAll(/\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/g)];
  return { magic: buf.subarray(0, 5).toString(), pages: (pdf.match(/\/Type\s*\/Page(?![a-z])/g) || []).length,
    a4: boxes.length > 0 && boxes.every((m) => Math.abs(Number(m[1]) - 595.3) < 2 &&
      Math.abs(Number(m[2]) - 841.9) < 2), text };
}

async function checked(page, what) {
  await axeCheck(page, what);
  await noInlineCode(page, what);
}

async function capture(p) {
  const sent = [];
  await p.cdp.send("Network.enable", { maxPostDataSize: 1 << 20 });
  p.cdp.on("Network.requestWillBeSent", (e) => sent.push(JSON.stringify({
    url: e.request.url + (e.request.urlFragment ?? ""), headers: e.request.headers,
    body: e.request.postData ?? "", entries: e.request.postDataEntries ?? [] })));
  p.cdp.on("Network.requestWillBeSentExtraInfo", (e) => sent.push(JSON.stringify({ headers: e.headers })));
  return sent;
}
function assertNoCode(texts, code, what) {
  const forms = new Set();
  for (const s of [code, code.replace(/-/g, ""), code.replace(/-/g, " "), code.replace(/-/g, "+"),
    code.replace(/-/g, "%20"), code.replace(/-/g, "%2D")]) forms.add(s.toLowerCase());
  for (const t of texts) {
    const lower = t.toLowerCase();
    for (const f of forms) assert.ok(!lower.includes(f), `${what}: the card code (${f}) appears`);
  }
}

test("the demo story across the worker, low-threshold and DPO areas", async () => {
  const sonja = await person();
  await enrol(sonja, invite("ocmw-story", "sonja"));
  const stef = await person();
  await enrol(stef, invite("caw-story", "stef"));

  // 1. Sonja (OCMW) registers the client by national register number and adds housing and contact.
  await sonja.page.goto(`${ORIGIN}/clients`);
  await sonja.page.locator("#number").fill(NUMBER);
  await sonja.page.getByRole("button", { name: T.en["worker.register_button"] }).click();
  await sonja.page.waitForURL(/\/clients\/p1[a-z0-9]+$/);
  const ocmwClient = sonja.page.url().split("/").pop();
  await sonja.page.locator("#fragment-category").selectOption("housing");
  await sonja.page.locator("#value1").fill(HOUSING);
  await sonja.page.getByRole("button", { name: T.en["worker.fragment_button"] }).click();
  await sonja.page.waitForURL(/purpose=care-coordination$/);
  await sonja.page.getByText(HOUSING).waitFor();
  await sonja.page.goto(`${ORIGIN}/clients/${ocmwClient}`);
  await sonja.page.locator("#fragment-category").selectOption("contact");
  await sonja.page.locator("#field1").fill("phone");
  await sonja.page.locator("#value1").fill(PHONE);
  await sonja.page.getByRole("button", { name: T.en["worker.fragment_button"] }).click();
  await sonja.page.waitForURL(/purpose=/);
  assert.ok((await readFor(sonja.page, ocmwClient, "care-coordination")).includes(HOUSING));

  // 2. Stef (CAW) registers the same person: his own pseudonym, and the read looks empty.
  await stef.page.goto(`${ORIGIN}/clients`);
  await stef.page.locator("#number").fill(NUMBER);
  await stef.page.getByRole("button", { name: T.en["worker.register_button"] }).click();
  await stef.page.waitForURL(/\/clients\/p1[a-z0-9]+$/);
  const cawClient = stef.page.url().split("/").pop();
  assert.notEqual(cawClient, ocmwClient);
  assert.equal((await readFor(stef.page, cawClient, "care-coordination")).trim(), "");
  await stef.page.locator("#dossier-empty").getByText(T.en["worker.dossier_empty"]).waitFor();
  // (The partner list of the consent form names every organisation; the dossier names none.)
  const denied = await stef.page.content();
  for (const hidden of [HOUSING, PHONE]) assert.ok(!denied.includes(hidden), `the page holds ${hidden}`);
  const deniedSection = await stef.page.locator("section[aria-labelledby=dossier-heading]").innerText();
  for (const hint of ["OCMW Verhaal", "ocmw-story", "housing", "contact"]) {
    assert.ok(!deniedSection.toLowerCase().includes(hint.toLowerCase()), `the denied read hints at ${hint}: ${deniedSection}`);
  }
  assert.equal(await stef.page.locator("[role=alert]").count(), 0, "no error on a denied read");

  // 3. Sonja records the consent for the CAW (housing, care coordination, in French), prints
  // the receipt; Stef now reads the housing fragment (not the contact one).
  await sonja.page.goto(`${ORIGIN}/clients/${ocmwClient}`);
  await sonja.page.locator("#grantee").selectOption("caw-story");
  await sonja.page.locator("#c-x-housing").check();
  await sonja.page.locator("#p-x-care-coordination").check();
  await sonja.page.locator("#consent-language").selectOption("fr");
  await sonja.page.getByRole("button", { name: T.en["worker.consent_button"] }).click();
  await sonja.page.waitForURL(/\/consents\/[a-z0-9-]+\/receipt$/);
  assert.equal(await sonja.page.locator("html").getAttribute("lang"), "fr");
  const receipt = await printedPdf(sonja.page);
  assert.equal(receipt.magic, "%PDF-");
  assert.equal(receipt.pages, 1, "the receipt prints on one page");
  assert.ok(receipt.a4, "the receipt prints on A4");
  assert.ok(receipt.text.includes("CAW Verhaal"), `the receipt names the grantee: ${receipt.text.slice(0, 300)}`);
  assert.match(receipt.text, /consentement/i, "the receipt is in French");
  const afterConsent = await readFor(stef.page, cawClient, "care-coordination");
  assert.ok(afterConsent.includes(HOUSING));
  assert.ok(!afterConsent.includes(PHONE), "only the consented category");

  // 4. Sonja withdraws; Stef's read is empty again.
  await sonja.page.goto(`${ORIGIN}/clients/${ocmwClient}`);
  await sonja.page.getByRole("link", { name: T.en["worker.withdraw_link"] }).click();
  await sonja.page.getByRole("button", { name: T.en["worker.withdraw_confirm"] }).click();
  await sonja.page.waitForURL(`${ORIGIN}/clients/${ocmwClient}`);
  await sonja.page.getByRole("cell", { name: T.en["worker.consent_status_revoked"] }).waitFor();
  assert.equal((await readFor(stef.page, cawClient, "care-coordination")).trim(), "");

  // 5. Sara (straat-story) issues a card in the browser and adds a note; Simon (nacht-story)
  // links it with the guest's agreement and sees what the rule pack lets him see.
  const sara = await person();
  const sentSara = await capture(sara);
  await enrol(sara, invite("straat-story", "sara"));
  await sara.page.goto(`${ORIGIN}/guests/new-card?lang=en`);
  await sara.page.getByRole("button", { name: T.en["lowthreshold_card.make"] }).click();
  await sara.page.locator("[data-card-code-text]").filter({ hasText: /\S/ }).waitFor();
  const code = (await sara.page.locator("[data-card-code-text]").textContent()).trim();
  assert.match(code, /^([0-9A-HJKMNP-TV-Y]{3}-){8}[0-9A-HJKMNP-TV-Y]{3}$/);
  await sara.page.getByText(T.en["lowthreshold_card.registered"]).waitFor();
  const guestUrl = await sara.page.locator("[data-card-next]").getAttribute("href");
  await sara.page.goto(`${ORIGIN}${guestUrl}?lang=en`);
  await sara.page.getByLabel(T.en["lowthreshold_guest.category_label"]).selectOption("housing");
  await sara.page.locator("#field1").fill("situation");
  await sara.page.locator("#value1").fill("sleeps in the park by the canal");
  await sara.page.getByRole("button", { name: T.en["lowthreshold_guest.add_button"] }).click();
  await sara.page.waitForURL(`${ORIGIN}${guestUrl}?state=added`);
  await sara.page.getByRole("cell", { name: "sleeps in the park by the canal" }).waitFor();

  const simon = await person();
  const sentSimon = await capture(simon);
  await enrol(simon, invite("nacht-story", "simon"));
  await simon.page.goto(`${ORIGIN}/guests/link?lang=en`);
  await checked(simon.page, "link (story partner)");
  await simon.page.getByLabel(T.en["lowthreshold_link.consent_label"]).check();
  await simon.page.getByLabel(T.en["lowthreshold_link.first_label"]).selectOption("straat-story");
  await simon.page.locator("#card-code").click();
  await simon.page.keyboard.type(code);
  await simon.page.getByRole("button", { name: T.en["lowthreshold_link.link_button"] }).click();
  await simon.page.waitForURL(/\/guests\/p1[a-z2-7]{26}\?state=linked$/);
  await simon.page.getByText(fillIn(T.en["lowthreshold_link.linked"], { partner: "Nachtopvang Verhaal" })).waitFor();
  const simonGuest = await simon.page.locator("main").innerText();
  // The low-threshold social worker reads housing only with the guest's consent for it: the
  // link alone shows him nothing of straat-story's note.
  assert.ok(!simonGuest.includes("sleeps in the park by the canal"), simonGuest.slice(0, 400));
  await checked(simon.page, "linked guest (story partner)");
  assertNoCode(sentSara, code, "sara's requests");
  assertNoCode(sentSimon, code, "simon's requests");
  assert.ok(sentSimon.some((s) => /pseudonym_first=sp1-[0-9a-f]{64}/.test(s)), "the capture sees bodies");
  assertNoCode([readFileSync(process.env.CONSOLE_LOG, "utf8")], code, "the console's log");
  assertNoCode([readFileSync(process.env.SLUISD_LOG, "utf8")], code, "sluisd's log");

  // 6. Stef breaks the glass on contact for an emergency and reads the phone number.
  await stef.page.goto(`${ORIGIN}/clients/${cawClient}`);
  await stef.page.locator("#g-x-contact").check();
  await stef.page.locator("#glass-reason").fill(REASON);
  await stef.page.locator("#glass-minutes").fill("30");
  await stef.page.getByRole("button", { name: T.en["worker.glass_button"] }).click();
  await stef.page.getByRole("heading", { name: T.en["worker.glass_granted_heading"] }).waitFor();
  await stef.page.getByRole("link", { name: T.en["worker.glass_read"] }).click();
  await stef.page.waitForURL(/purpose=emergency$/);
  const emergency = await stef.page.locator("#dossier").innerText();
  assert.ok(emergency.includes(PHONE), emergency);
  assert.ok(!emergency.includes(HOUSING), "break-the-glass opens only the chosen category");

  // 7. Dina, the OCMW's DPO, finds the emergency access among the events and reviews it.
  const dina = await person();
  await enrol(dina, invite("ocmw-story", "dina", "dpo"));
  const dp = dina.page;
  // The read under the grant, on the OCMW's data, is among the organisation's events.
  await dp.goto(`${ORIGIN}/dpo/events?purpose=emergency`);
  const events = await dp.locator("table.events").innerText();
  assert.match(events, /stef \(social-worker, caw-story\)\s+Dossier read emergency access\s+contact\s+Emergency\s+permitted\s+btg\.valid/,
    events);
  await checked(dp, "DPO events (story)");
  await dp.goto(`${ORIGIN}/dpo/break-glass`);
  const grant = dp.locator("section.grant", { hasText: "stef" });
  await grant.first().waitFor();
  assert.equal(await grant.count(), 1, "one grant of the story");
  assert.ok(await grant.getByText(D.en["dpo_review.to_review_mark"]).isVisible());
  await grant.locator("table.accesses").getByText("stef").waitFor();
  await grant.getByLabel(D.en["dpo_outcome.justified"], { exact: true }).check();
  await grant.getByLabel(D.en["dpo_review.note"]).fill("Called the CAW: the client fainted, justified.");
  await grant.getByRole("button", { name: D.en["dpo_review.submit"] }).click();
  await dp.waitForURL(`${ORIGIN}/dpo/break-glass?reviewed=1`);
  const reviewed = dp.locator("section.grant.is-reviewed", { hasText: "stef" });
  await reviewed.getByText(D.en["dpo_outcome.justified"], { exact: true }).waitFor();
  await reviewed.getByText("the client fainted, justified").waitFor();

  // 8. The access report in French, the language switched in the page.
  await dp.goto(`${ORIGIN}/dpo/access-report`);
  await Promise.all([dp.waitForEvent("load"), dp.locator('form.languages button[value="fr"]').click()]);
  assert.equal(await dp.getAttribute("html", "lang"), "fr");
  await dp.getByLabel(D.fr["dpo_access.client"]).fill(ocmwClient);
  assert.equal(await dp.locator("#lang").inputValue(), "fr", "the report's language follows the page's");
  await dp.getByRole("button", { name: D.fr["dpo_access.show"] }).click();
  await dp.waitForURL(/\/dpo\/access-report\/print\?/);
  assert.equal(await dp.getAttribute("html", "lang"), "fr");
  await checked(dp, "access report (story, fr)");
  const report = await printedPdf(dp);
  assert.equal(report.magic, "%PDF-");
  assert.ok(report.pages >= 1 && report.a4, "the access report prints on A4");
  // The story's accesses, each by the organisation that made it (sluisd's French report).
  const rows = report.text.split("\n");
  const row = (org, what) => assert.ok(rows.some((r) => r.includes(org) && r.includes(what)),
    `the report lacks ${org}: ${what}\n${report.text}`);
  row("OCMW Verhaal", "inscription");
  row("CAW Verhaal", "inscription");
  row("OCMW Verhaal", "consentement enregistré: situation de logement");
  row("CAW Verhaal", "a consulté des données: situation de logement");
  row("OCMW Verhaal", "consentement retiré: situation de logement");
  row("CAW Verhaal", "accès d'urgence ouvert: coordonnées");
  row("CAW Verhaal", "a consulté des données: coordonnées");
  assert.ok(report.text.includes("ACCÈS D'URGENCE"));
  // The reads that disclosed nothing (before the consent, after its withdrawal) are not
  // accesses to the client's data: no CAW read of housing outside the consent's lifetime.
  const cawHousing = rows.filter((r) => r.includes("CAW Verhaal") && r.includes("situation de logement"));
  assert.equal(cawHousing.length, 1, "one CAW read of housing: the one under the consent");
  await Promise.all([sonja, stef, sara, simon, dina].map((p) => p.context.close()));
});
