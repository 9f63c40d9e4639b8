// The low-threshold service's pages in a real Chromium: a card issued and printed in the
// browser, a guest served by the card code, a note, a link at a second service with the guest's
// consent, a lost card replaced (the old card then refused) — and the card code in no request
// the browser sent (CDP network events) and in neither the console's nor sluisd's log.
// Partners and workers of this file (tests/browser/run.sh): straat (lena), nacht (luc).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ORIGIN, T, invite, person, enrol, axeCheck, noInlineCode, shot, responses } from "./lib.mjs";

const LANGS = ["nl", "fr", "en"];
// The [problem] keys are sluisd's codes (with dashes), which lib.mjs's reader skips.
function problems(lang) {
  const out = {};
  let section = "";
  const file = `${process.env.CATALOGUES}/lowthreshold.${lang}.toml`;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const s = line.match(/^\[(.+)\]$/);
    if (s) section = s[1];
    const kv = line.match(/^([a-z0-9_-]+) = "(.*)"$/);
    if (kv && section === "problem") out[kv[1]] = kv[2];
  }
  return out;
}
const P = { nl: problems("nl"), fr: problems("fr"), en: problems("en") };
const fillIn = (s, v) => s.replace(/\{([a-z_]+)\}/g, (_, k) => v[k] ?? "");

// Every request the page sends, as CDP reports it before it leaves: URL (with any fragment),
// headers, body. Network.requestWillBeSentExtraInfo adds the headers as sent on the wire
// (cookies included).
async function capture(p) {
  const sent = [];
  await p.cdp.send("Network.enable", { maxPostDataSize: 1 << 20 });
  p.cdp.on("Network.requestWillBeSent", (e) => {
    assert.ok(!e.request.hasPostData || typeof e.request.postData === "string",
      `a body CDP did not report: ${e.request.url}`);
    sent.push(JSON.stringify({ url: e.request.url + (e.request.urlFragment ?? ""),
      method: e.request.method, headers: e.request.headers, body: e.request.postData ?? "",
      entries: e.request.postDataEntries ?? [] }));
  });
  p.cdp.on("Network.requestWillBeSentExtraInfo", (e) => {
    sent.push(JSON.stringify({ headers: e.headers }));
  });
  return sent;
}

// A code in every spelling a request could carry it in.
function spellings(code) {
  const bare = code.replace(/-/g, "");
  const out = new Set();
  for (const s of [code, bare, code.replace(/-/g, " "), code.replace(/-/g, "+"),
    code.replace(/-/g, "%20"), code.replace(/-/g, "%2D")]) {
    out.add(s);
    out.add(s.toLowerCase());
  }
  return [...out];
}
function assertAbsent(haystacks, code, what) {
  for (const text of haystacks) {
    const lower = text.toLowerCase();
    for (const s of spellings(code)) {
      assert.ok(!lower.includes(s.toLowerCase()), `${what}: the card code (${s}) appears in ${text.slice(0, 200)}`);
    }
  }
}

async function visitInEveryLanguage(page, path, titleKey, name, vars = {}) {
  for (const lang of LANGS) {
    const r = await page.goto(`${ORIGIN}${path}${path.includes("?") ? "&" : "?"}lang=${lang}`);
    assert.equal(r.status(), 200, `${path} in ${lang}`);
    assert.equal(await page.locator("h1").first().textContent(), fillIn(T[lang][titleKey], vars),
      `${path} heading in ${lang}`);
    await axeCheck(page, `${path} (${lang})`);
    await noInlineCode(page, `${path} (${lang})`);
    await shot(page, `lowthreshold-${name}-${lang}`);
  }
}

async function issueCard(page) {
  await page.getByRole("button", { name: T.en["lowthreshold_card.make"] }).click();
  await page.locator("[data-card-code-text]").filter({ hasText: /\S/ }).waitFor();
  await page.locator("[data-card-qr] svg.qr path").waitFor({ state: "attached" });
  return (await page.locator("[data-card-code-text]").textContent()).trim();
}

// Waits for `url` (a string or RegExp); on a timeout says where the page is and what it shows.
async function arrive(page, url) {
  try {
    await page.waitForURL(url, { timeout: 10000 });
  } catch (e) {
    const text = await page.locator("main").innerText().catch(() => "");
    const msg = await page.locator("[data-card-message]").textContent().catch(() => "-");
    console.error("ARRIVE", msg, await page.locator("#card-code").inputValue().catch(() => "-"));
    assert.fail(`expected ${url}, at ${page.url()}: ${text.slice(0, 400)}`);
  }
}

async function typeCode(page, code) {
  await page.locator("#card-code").click();
  await page.keyboard.type(code);  // as a keyboard-wedge scanner does
}

test("a card issued in the browser, served, linked at a second service and replaced; its code never leaves the browser", async () => {
  const lena = await person();
  const sentLena = await capture(lena);
  await enrol(lena, invite("straat", "lena"));
  const page = lena.page;

  // The service's start page and the new-card page, in every language.
  await visitInEveryLanguage(page, "/guests", "lowthreshold.title", "home", { partner: "Straatwerk Brussel" });
  await visitInEveryLanguage(page, "/guests/new-card", "lowthreshold_card.title", "newcard");

  // 1. Issue a card: made, registered and drawn in the browser.
  await page.goto(`${ORIGIN}/guests/new-card?lang=en`);
  await page.getByText(fillIn(T.en["lowthreshold_card.only_copy"], { partner: "Straatwerk Brussel" })).waitFor();
  const register = page.waitForResponse((r) => r.url() === `${ORIGIN}/guests/new-card` && r.request().method() === "POST");
  const code = await issueCard(page);
  assert.equal((await register).status(), 200);
  assert.match(code, /^([0-9A-HJKMNP-TV-Y]{3}-){8}[0-9A-HJKMNP-TV-Y]{3}$/);
  await page.getByText(T.en["lowthreshold_card.registered"]).waitFor();
  await page.getByRole("button", { name: T.en["lowthreshold_card.print"] }).waitFor();
  await axeCheck(page, "the issued card");
  await shot(page, "lowthreshold-card-en");
  // Printed: one A4 page, the card at ISO/IEC 7810 ID-1 size (85.60 × 53.98 mm at 96 px/in).
  await page.emulateMedia({ media: "print" });
  const box = await page.locator(".print-card").boundingBox();
  assert.ok(Math.abs(box.width - 85.6 / 25.4 * 96) < 1.5, `card width ${box.width}px`);
  assert.ok(Math.abs(box.height - 53.98 / 25.4 * 96) < 1.5, `card height ${box.height}px`);
  const pdf = (await page.pdf({ preferCSSPageSize: true, printBackground: true })).toString("latin1");
  assert.equal((pdf.match(/\/Type\s*\/Page[^s]/g) ?? []).length, 1, "one page");
  const media = pdf.match(/\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/);
  assert.ok(media && Math.abs(Number(media[1]) - 595.3) < 1 && Math.abs(Number(media[2]) - 841.9) < 1,
    `A4 portrait: ${media && media.slice(1)}`);
  await page.emulateMedia({ media: "screen" });
  const guestUrl = await page.locator("[data-card-next]").getAttribute("href");
  assert.match(guestUrl, /^\/guests\/p1[a-z2-7]{26}$/);

  // 2. Serve the guest by typing the code: a typo is caught in the browser and nothing is sent.
  await page.goto(`${ORIGIN}/guests`, { waitUntil: "networkidle" });
  const posts = () => sentLena.filter((r) => r.includes('"method":"POST"')).length;
  const before = posts();
  const swapped = code.slice(0, 1) + code.slice(2, 3) + code.slice(1, 2) + code.slice(3);
  await typeCode(page, swapped === code ? code.replace(/.$/, (c) => (c === "0" ? "1" : "0")) : swapped);
  await page.keyboard.press("Enter");
  await page.getByText(T.en["lowthreshold.msg_typo"]).waitFor();
  assert.equal(page.url(), `${ORIGIN}/guests`);
  assert.equal(posts(), before, "a refused code sends nothing");
  await page.locator("#card-code").fill("");
  await typeCode(page, code.replace(/-/g, "").toLowerCase());
  await page.keyboard.press("Enter");
  await arrive(page, `${ORIGIN}${guestUrl}?state=known`);
  await page.getByText(T.en["lowthreshold_guest.known_guest"]).waitFor();
  await visitInEveryLanguage(page, guestUrl, "lowthreshold_guest.title", "guest");

  // A note, then an identifying category refused by sluisd, shown readably, nothing saved.
  await page.goto(`${ORIGIN}${guestUrl}?lang=en`);
  await page.getByLabel(T.en["lowthreshold_guest.category_label"]).selectOption("housing");
  await page.locator("#field1").fill("situation");
  await page.locator("#value1").fill("sleeps outside near the station");
  await page.getByRole("button", { name: T.en["lowthreshold_guest.add_button"] }).click();
  await arrive(page, `${ORIGIN}${guestUrl}?state=added`);
  await page.getByText(T.en["lowthreshold_guest.added"]).waitFor();
  await page.getByRole("cell", { name: "sleeps outside near the station" }).waitFor();
  assert.equal(await page.locator("#category option[value=contact]").count(), 0,
    "identifying categories are not offered");
  await page.evaluate(() => {
    const o = document.createElement("option");
    o.value = "contact";
    o.textContent = "contact";
    document.querySelector("#category").append(o);
  });
  await page.locator("#category").selectOption("contact");
  await page.locator("#field1").fill("phone");
  await page.locator("#value1").fill("0470 00 00 00");
  const refused = page.waitForResponse((r) => r.url().endsWith("/fragments"));
  await page.getByRole("button", { name: T.en["lowthreshold_guest.add_button"] }).click();
  assert.ok((await refused).status() >= 400);
  await page.getByText(P.en["identifying-category-on-anonymous"]).waitFor();
  await axeCheck(page, "the identifying-category refusal");
  await shot(page, "lowthreshold-refused-en");
  await page.goto(`${ORIGIN}${guestUrl}`);
  assert.equal(await page.locator("table.fragment").count(), 1, "the refused note was not saved");

  // Bad input to the console itself: a readable page, nothing done.
  const bad = await page.evaluate(async () => {
    const body = new URLSearchParams({ csrf: document.querySelector('input[name="csrf"]').value,
      pseudonym: "sp1-not-a-pseudonym" });
    const r = await fetch("/guests/serve", { method: "POST", body });
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    return { status: r.status, text: doc.querySelector("main").textContent };
  });
  assert.equal(bad.status, 422);
  assert.ok(bad.text.includes(P.en["invalid-identifier"]));
  const post = (path, fields) => page.evaluate(async ([target, extra]) => {
    const body = new URLSearchParams({ csrf: document.querySelector('input[name="csrf"]').value, ...extra });
    const r = await fetch(target, { method: "POST", body });
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    return { status: r.status, text: doc.querySelector("main").textContent };
  }, [path, fields]);
  const badNote = await post(`${guestUrl}/fragments`, { category: "housing", field1: "Bad Name", value1: "x" });
  assert.equal(badNote.status, 422);
  assert.ok(badNote.text.includes(T.en["lowthreshold_guest.bad_note"]));
  const sp = "sp1-" + "0".repeat(64);
  const noConsent = await post("/guests/link", { pseudonym: sp, pseudonym_first: sp, first_service: "nacht", how: "spoken" });
  assert.equal(noConsent.status, 422);
  assert.ok(noConsent.text.includes(T.en["lowthreshold_link.no_consent"]));
  await page.goto(`${ORIGIN}${guestUrl}`);
  assert.equal(await page.locator("table.fragment").count(), 1, "bad input changed nothing");

  // 3. Luc at nacht: the same card registers nacht's own anonymous guest, then is linked.
  const luc = await person();
  const sentLuc = await capture(luc);
  await enrol(luc, invite("nacht", "luc"));
  await luc.page.goto(`${ORIGIN}/guests`);
  await typeCode(luc.page, code);
  await luc.page.keyboard.press("Enter");
  await arrive(luc.page, /\/guests\/p1[a-z2-7]{26}\?state=new$/);
  await luc.page.getByText(T.en["lowthreshold_guest.new_guest"]).waitFor();
  await visitInEveryLanguage(luc.page, "/guests/link", "lowthreshold_link.title", "link", { partner: "Nachtopvang Brussel" });
  await luc.page.goto(`${ORIGIN}/guests/link?lang=en`);
  // Without the guest's agreement the browser does not send the form.
  await luc.page.getByLabel(T.en["lowthreshold_link.first_label"]).selectOption("straat");
  await typeCode(luc.page, code);
  await luc.page.getByRole("button", { name: T.en["lowthreshold_link.link_button"] }).click();
  assert.equal(luc.page.url(), `${ORIGIN}/guests/link?lang=en`);
  await luc.page.getByLabel(T.en["lowthreshold_link.consent_label"]).check();
  await luc.page.getByRole("button", { name: T.en["lowthreshold_link.link_button"] }).click();
  await arrive(luc.page, /\/guests\/p1[a-z2-7]{26}\?state=linked$/);
  await luc.page.getByText(fillIn(T.en["lowthreshold_link.linked"], { partner: "Nachtopvang Brussel" })).waitFor();

  // 4. The guest lost the card: lena gives a new one; the old one is retired everywhere.
  await visitInEveryLanguage(page, `${guestUrl}/new-card`, "lowthreshold_replace.title", "replace");
  await page.goto(`${ORIGIN}${guestUrl}?lang=en`);
  await page.getByRole("link", { name: T.en["lowthreshold_guest.replace_link"] }).click();
  await arrive(page, `${ORIGIN}${guestUrl}/new-card`);
  await page.getByRole("button", { name: T.en["lowthreshold_replace.make"] }).click();
  await page.locator("[data-card-code-text]").filter({ hasText: /\S/ }).waitFor();
  const newCode = (await page.locator("[data-card-code-text]").textContent()).trim();
  assert.notEqual(newCode, code);
  await page.getByText(T.en["lowthreshold_replace.registered"]).waitFor();
  assert.equal(await page.locator("[data-card-next]").getAttribute("href"), guestUrl);
  // The new card serves the same guest at straat.
  await page.goto(`${ORIGIN}/guests`);
  await typeCode(page, newCode);
  await page.keyboard.press("Enter");
  await arrive(page, `${ORIGIN}${guestUrl}?state=known`);
  // Linking with the old card is refused, readably.
  await luc.page.goto(`${ORIGIN}/guests/link?lang=en`);
  await luc.page.getByLabel(T.en["lowthreshold_link.consent_label"]).check();
  await luc.page.getByLabel(T.en["lowthreshold_link.first_label"]).selectOption("straat");
  await typeCode(luc.page, code);
  const linkAnswer = luc.page.waitForResponse((r) => r.url() === `${ORIGIN}/guests/link` && r.request().method() === "POST");
  await luc.page.getByRole("button", { name: T.en["lowthreshold_link.link_button"] }).click();
  assert.ok((await linkAnswer).status() >= 400);
  await luc.page.getByText(P.en["card-replaced"]).waitFor();
  await axeCheck(luc.page, "the card-replaced refusal");
  await shot(luc.page, "lowthreshold-card-replaced-en");

  // The card codes appear in no request either browser sent, in any spelling — while the
  // derived pseudonyms do (the capture sees bodies).
  assert.ok(sentLena.some((s) => /pseudonym=sp1-[0-9a-f]{64}/.test(s)), "the capture sees request bodies");
  assert.ok(sentLuc.some((s) => /pseudonym_first=sp1-[0-9a-f]{64}/.test(s)));
  for (const c of [code, newCode]) {
    assertAbsent(sentLena, c, "lena's requests");
    assertAbsent(sentLuc, c, "luc's requests");
    assertAbsent([readFileSync(process.env.CONSOLE_LOG, "utf8")], c, "the console's log");
    assertAbsent([readFileSync(process.env.SLUISD_LOG, "utf8")], c, "sluisd's log");
  }
  // Every answer of these pages: the CSP with a nonce, never cached.
  const mine = responses.filter((r) => new URL(r.url).pathname.startsWith("/guests"));
  assert.ok(mine.length > 20);
  for (const r of mine) {
    assert.match(r.headers["content-security-policy"] ?? "", /script-src 'self' 'nonce-[A-Za-z0-9_-]+'/, r.url);
    assert.equal(r.headers["cache-control"], "no-store", r.url);
  }
  await lena.context.close();
  await luc.context.close();
});
