// pseudonym.js (the browser's card-code parser and service-pseudonym derivation) against vectors
// computed by crypto/src/card.cpp, plus the partner guide's published vectors. Test tooling only:
//   node pseudonym_test.mjs <pseudonym_vectors executable> <console/web/static/js/pseudonym.js>
// Exits non-zero on the first disagreement.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const [generator, modulePath] = process.argv.slice(2);
if (!generator || !modulePath) {
  console.error("usage: node pseudonym_test.mjs <pseudonym_vectors> <pseudonym.js>");
  process.exit(2);
}
if (!globalThis.crypto || !globalThis.crypto.subtle) {
  console.error("this node has no WebCrypto (globalThis.crypto.subtle); node 20 or later is needed");
  process.exit(2);
}

// The file the browser loads, byte for byte, imported as an ES module (a data: URL, so node
// needs no package.json to treat the .js file as a module).
const source = readFileSync(modulePath);
const js = await import("data:text/javascript;base64," + source.toString("base64"));

const fromHex = (h) => new Uint8Array(h.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const utf8 = (h) => new TextDecoder("utf-8", { fatal: true }).decode(fromHex(h));

// What the C++ parser's outcome is in the JS parser's terms.
function jsOutcome(input) {
  try {
    return "ok:" + toHex(js.parseCardCode(input));
  } catch (e) {
    if (!(e instanceof js.CardCodeError)) throw e;
    return e.kind === "typo" ? "bad_check_character" : "bad_card_code";
  }
}

const lines = execFileSync(generator, { encoding: "utf8", maxBuffer: 64 << 20 })
  .split("\n")
  .filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));
let counts = { format: 0, parse: 0, pseudonym: 0 };
for (const v of lines) {
  counts[v.type] += 1;
  if (v.type === "format") {
    assert.equal(js.formatCardCode(fromHex(v.secret)), v.code, `format ${v.secret}`);
    assert.equal(toHex(js.parseCardCode(v.code)), v.secret, `parse ${v.code}`);
  } else if (v.type === "parse") {
    const input = utf8(v.input_hex);
    assert.equal(jsOutcome(input), v.expect, `parse ${JSON.stringify(input)}`);
  } else if (v.type === "pseudonym") {
    const got = await js.servicePseudonym(fromHex(v.secret), utf8(v.service_hex));
    assert.equal(got, v.pseudonym, `pseudonym ${v.secret} at ${utf8(v.service_hex)}`);
  } else {
    assert.fail(`unknown vector type ${v.type}`);
  }
}
assert.ok(counts.format >= 200 && counts.parse >= 3000 && counts.pseudonym >= 500,
  `too few vectors: ${JSON.stringify(counts)}`);

// The partner guide's published vectors (docs/partner-guide/card-pseudonyms.md §4), so the JS
// is also checked against numbers that were computed without any sluis code.
const published = [
  ["000102030405060708090a0b0c0d0e0f", "nachtopvang-gent",
    "sp1-951c48dda76155670248d6e64547f45738783c384bbc73e3cd656ba47f45e55d"],
  ["000102030405060708090a0b0c0d0e0f", "straatwerk-antwerpen",
    "sp1-40386d5a40cc4982ed7ab1f99a9ee504c4113746d05c207acc8b1bfa8a848077"],
  ["000102030405060708090a0b0c0d0e0f", "maison-médicale-schaerbeek",
    "sp1-08cdf5ce0b66068e3a8f226115aea3446c6db49ea07610335a1fe12c8c040776"],
  ["7f3a9e0c5b1d42e8a6f09c3d7e21b4a5", "nachtopvang-gent",
    "sp1-d58caffa089cb0fe2da9892fce4ae1e851cf77dffeb94d68731fe962463809d4"],
];
for (const [secret, service, pseudonym] of published) {
  assert.equal(await js.servicePseudonym(fromHex(secret), service), pseudonym);
}
assert.equal(js.formatCardCode(fromHex("000102030405060708090a0b0c0d0e0f")),
  "000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM1");
assert.equal(js.formatCardCode(fromHex("ffffffffffffffffffffffffffffffff")),
  "HNE-RT9-YJ3-63G-G16-NPS-8WV-Q1K-E7K");

// Refusals carry what a person needs to fix the code.
const refusal = (input) => {
  try {
    js.parseCardCode(input);
  } catch (e) {
    return e;
  }
  assert.fail(`accepted ${input}`);
};
let e = refusal("8RJ-5WX-FOS-R6Q-KAT-14E-M3A-4NK-62D");
assert.equal(e.kind, "bad-character");
assert.deepEqual(e.detail, { character: "O", position: 10, lookalike: "0" });
e = refusal("8rj-5wx-fns-r6q-kat-14e-m3a-4nk-6zd");
assert.equal(e.kind, "bad-character");
assert.equal(e.detail.lookalike, "2");
assert.equal(refusal("8RJ-5WX-FNS-R6Q-KAT-14E-M3A-4NK-62").detail.count, 26);
assert.equal(refusal("8RJ-5WX-FNS-R6Q-KAT-14E-M3A-4NK-62E").kind, "typo");
assert.equal(refusal("8JR-5WX-FNS-R6Q-KAT-14E-M3A-4NK-62D").kind, "typo");
assert.equal(refusal("HNE-RT9-YJ3-63G-G16-NPS-8WV-Q1K-E8A").kind, "not-issued");
assert.equal(refusal("  - ").kind, "empty");
assert.equal(refusal("ß".repeat(27)).kind, "bad-character");  // never folded to "SS"

// A scanned QR code: the console URL with the code in the fragment.
assert.equal(js.extractCardCode("https://console.example.org/guest#8RJ-5WX-FNS-R6Q-KAT-14E-M3A-4NK-62D"),
  "8RJ-5WX-FNS-R6Q-KAT-14E-M3A-4NK-62D");
assert.equal(js.extractCardCode(" 8rj5wxfnsr6qkat14em3a4nk62d "), "8rj5wxfnsr6qkat14em3a4nk62d");
const [own, other] = await js.pseudonymsFromCode(
  "https://console.example.org/guest#000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM1",
  ["nachtopvang-gent", "straatwerk-antwerpen"]);
assert.equal(own, published[0][2]);
assert.equal(other, published[1][2]);

// The message a form shows is built from its data attributes, as text.
const form = { dataset: { msgBadCharacter: "«{character}» staat niet op een kaart",
  msgLookalike: "«{character}» staat niet op een kaart; bedoelt u «{lookalike}»?",
  msgWrongLength: "{count} tekens; een kaartcode heeft er 27", msgTypo: "tikfout", msgFailed: "mislukt" } };
assert.equal(js.refusalMessage(form, refusal("8RJ-5WX-F.S-R6Q-KAT-14E-M3A-4NK-62D")),
  "«.» staat niet op een kaart");
assert.equal(js.refusalMessage(form, refusal("8RJ-5WX-FOS-R6Q-KAT-14E-M3A-4NK-62D")),
  "«O» staat niet op een kaart; bedoelt u «0»?");
assert.equal(js.refusalMessage(form, refusal("8RJ")), "3 tekens; een kaartcode heeft er 27");
assert.equal(js.refusalMessage(form, new Error("x")), "mislukt");
assert.equal(js.refusalMessage(form, refusal("HNE-RT9-YJ3-63G-G16-NPS-8WV-Q1K-E8A")), "mislukt");

// bindCardForms on a minimal stand-in for the DOM: the code never stays in the form, only the
// pseudonym is submitted, and a refusal submits nothing and says why.
function fakeForm(serviceIds) {
  const listeners = {};
  const field = { value: "", attrs: {}, focused: false,
    setAttribute(k, v) { this.attrs[k] = v; }, focus() { this.focused = true; } };
  const outputs = serviceIds.split(" ").map(() => ({ value: "" }));
  const message = { textContent: "" };
  const form = {
    dataset: { serviceIds, msgTypo: "tikfout", msgFailed: "mislukt" },
    submitted: 0,
    querySelector(sel) {
      return sel === "input[data-card-code]" ? field : sel === "[data-card-message]" ? message : null;
    },
    querySelectorAll() { return outputs; },
    addEventListener(type, fn) { listeners[type] = fn; },
    requestSubmit() { this.submitted += 1; },
  };
  const submit = async () => {
    const event = { prevented: false, preventDefault() { this.prevented = true; } };
    await listeners.submit(event);
    await new Promise((resolve) => setTimeout(resolve, 0));  // the task that submits
    return event;
  };
  return { form, field, outputs, message, submit };
}
{
  const f = fakeForm("nachtopvang-gent straatwerk-antwerpen");
  js.bindCardForms({ querySelectorAll: () => [f.form] });
  f.field.value = "000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM2";  // a typo
  let ev = await f.submit();
  assert.ok(ev.prevented);
  assert.equal(f.form.submitted, 0);
  assert.equal(f.message.textContent, "tikfout");
  assert.equal(f.field.attrs["aria-invalid"], "true");
  assert.ok(f.field.focused);
  assert.deepEqual(f.outputs.map((o) => o.value), ["", ""]);
  f.field.value = "000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM1";
  ev = await f.submit();
  assert.ok(ev.prevented);
  assert.equal(f.form.submitted, 1);
  assert.equal(f.field.value, "");  // the code is gone before anything is sent
  assert.deepEqual(f.outputs.map((o) => o.value), [published[0][2], published[1][2]]);
  assert.equal(f.message.textContent, "");
  // The browser's own submit (from requestSubmit) goes through untouched, once: a later submit
  // (the page kept in the back-forward cache) derives again.
  ev = await f.submit();
  assert.ok(!ev.prevented);
  f.field.value = "8RJ-5WX-FNS-R6Q-KAT-14E-M3A-4NK-62D";
  ev = await f.submit();
  assert.ok(ev.prevented);
  assert.equal(f.form.submitted, 2);
  assert.equal(f.outputs[0].value,
    "sp1-d58caffa089cb0fe2da9892fce4ae1e851cf77dffeb94d68731fe962463809d4");
}

// New cards: the codes the browser makes from crypto.getRandomValues are codes the C++ parser
// accepts, as the same secret, with the same service pseudonym.
{
  const made = [];
  for (let i = 0; i < 300; i += 1) {
    const secret = js.newCardSecret();
    made.push({ secret: toHex(secret), code: js.formatCardCode(secret),
      pseudonym: await js.servicePseudonym(secret, "straat") });
    secret.fill(0);
  }
  const parsed = execFileSync(generator, ["--parse", "straat"],
    { input: made.map((m) => m.code).join("\n") + "\n", encoding: "utf8" })
    .split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
  assert.equal(parsed.length, made.length);
  parsed.forEach((p, i) => {
    assert.equal(p.code, made[i].code);
    assert.equal(p.outcome, "ok:" + made[i].secret, `C++ parse of ${made[i].code}`);
    assert.equal(p.pseudonym, made[i].pseudonym, `C++ pseudonym of ${made[i].code}`);
  });
  assert.equal(new Set(made.map((m) => m.code)).size, made.length, "fresh secrets every time");
  // The bytes come from the generator it is given (the browser's crypto by default).
  const fixed = js.newCardSecret({ getRandomValues(b) { b.fill(0xff); return b; } });
  assert.equal(js.formatCardCode(fixed), "HNE-RT9-YJ3-63G-G16-NPS-8WV-Q1K-E7K");
}

console.log(`pseudonym.js agrees with crypto/src/card.cpp: ${JSON.stringify(counts)}`);
