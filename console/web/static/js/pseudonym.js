// Card codes and service pseudonyms in the browser (WebCrypto): the card secret never leaves the page.
//
// This is the public derivation of docs/partner-guide/card-pseudonyms.md, the same as
// crypto/src/card.cpp (tests/console/pseudonym_test.mjs checks the two agree on vectors the C++
// code computes):
//   card code  = 27 symbols over "0123456789ABCDEFGHJKMNPQRSTVWXY": the 16-byte secret as a
//                big-endian integer in base 31 (26 digits), then a check symbol so that
//                sum((i + 1) * v_i) = 0 (mod 31); printed in groups of three with '-'.
//   pseudonym  = "sp1-" + hex(HMAC-SHA-256(key = secret, "sluis-service-pseudonym-v1" 0x00 service_id))
// HMAC-SHA-256 is a WebCrypto primitive (SubtleCrypto.importKey "raw" + sign), so no other
// cryptographic code is needed here.
//
// On a page, a form marked data-card-pseudonym is bound when this module loads (no inline
// script): see bindCardForms below for the markup it expects. The card-code field has no name,
// so the browser never submits it; only the derived pseudonym is sent.

export const CARD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY";
const RADIX = 31n;
const DATA_SYMBOLS = 26;
const SYMBOLS = 27;
const MAX_INPUT = 128; // bytes: parse_card_code's bound (kMaxCardCodeInput)
const MAX_SCAN = 2048; // a scanned URL, before its code is taken out
const LABEL = "sluis-service-pseudonym-v1";
const LIMIT = 1n << 128n;

/**
 * Why a card code was refused. `kind` is one of
 *   "empty"          nothing was typed;
 *   "bad-character"  a character that is never on a card (detail.character, detail.position);
 *                    I, L, O, U and Z set detail.lookalike to the symbol they are mistaken for;
 *   "wrong-length"   not 27 symbols (detail.count);
 *   "typo"           27 symbols whose check does not hold: one is wrong or two are swapped;
 *   "not-issued"     the check holds but the value is 2^128 or more: not a code sluis made.
 * The C++ parser reports bad_card_code for every kind but "typo" (bad_check_character).
 */
export class CardCodeError extends Error {
  constructor(kind, detail = {}) {
    super(`card code refused: ${kind}`);
    this.name = "CardCodeError";
    this.kind = kind;
    this.detail = detail;
  }
}

const LOOKALIKES = { I: "1", L: "1", O: "0", U: "V", Z: "2" };

// The value of one symbol, or -1. ASCII only: lower-case letters are folded by arithmetic, never
// by toUpperCase (which turns some non-ASCII letters into ASCII ones, e.g. "ß" into "SS").
function symbolValue(ch) {
  let c = ch.codePointAt(0);
  if (c >= 0x61 && c <= 0x7a) c -= 0x20;
  if (c > 0x7f) return -1;
  return CARD_ALPHABET.indexOf(String.fromCharCode(c));
}

/**
 * The card code inside what a person typed or a scanner read: a bare code, or the URL printed in
 * the card's QR code, whose fragment (after '#') is the code — a fragment is never sent to a
 * server, so opening the URL on a phone does not disclose the card either.
 */
export function extractCardCode(text) {
  const s = String(text).trim();
  if (s.length > MAX_SCAN) return s;
  const hash = s.lastIndexOf("#");
  if (hash >= 0 && /^https?:\/\//i.test(s)) return s.slice(hash + 1);
  return s;
}

/**
 * Parses a card code as a person typed it (lower case accepted; spaces and '-' ignored) into its
 * 16 secret bytes. Throws CardCodeError. The caller wipes the bytes (fill(0)) when done.
 */
export function parseCardCode(text) {
  const s = String(text);
  // parse_card_code's bound is on bytes: refuse the same inputs, before any other work.
  if (new TextEncoder().encode(s).length > MAX_INPUT) {
    throw new CardCodeError("wrong-length", { count: s.replace(/[ -]/g, "").length });
  }
  const values = [];
  let position = 0;
  for (const ch of s) {
    position += 1;
    if (ch === " " || ch === "-") continue;
    const v = symbolValue(ch);
    if (v < 0) {
      const upper = ch.length === 1 && ch >= "a" && ch <= "z" ? ch.toUpperCase() : ch;
      const detail = { character: ch, position };
      if (LOOKALIKES[upper]) detail.lookalike = LOOKALIKES[upper];
      throw new CardCodeError("bad-character", detail);
    }
    values.push(v);
  }
  if (values.length === 0) throw new CardCodeError("empty");
  if (values.length !== SYMBOLS) throw new CardCodeError("wrong-length", { count: values.length });
  // The check first, so that a typo is reported as a typo (as the C++ parser does).
  let sum = 0;
  values.forEach((v, i) => {
    sum += (i + 1) * v;
  });
  if (sum % 31 !== 0) throw new CardCodeError("typo");
  let x = 0n;
  for (let i = 0; i < DATA_SYMBOLS; i += 1) x = x * RADIX + BigInt(values[i]);
  values.fill(0);
  if (x >= LIMIT) throw new CardCodeError("not-issued");
  const secret = new Uint8Array(16);
  for (let i = 15; i >= 0; i -= 1) {
    secret[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return secret;
}

/** The printed form of 16 secret bytes (for tests and for checking a code read back). */
export function formatCardCode(secret) {
  if (!(secret instanceof Uint8Array) || secret.length !== 16) throw new TypeError("16 bytes expected");
  let x = 0n;
  for (const b of secret) x = (x << 8n) | BigInt(b);
  const v = new Array(SYMBOLS).fill(0);
  for (let k = DATA_SYMBOLS - 1; k >= 0; k -= 1) {
    v[k] = Number(x % RADIX);
    x /= RADIX;
  }
  let s = 0;
  for (let i = 0; i < DATA_SYMBOLS; i += 1) s += (i + 1) * v[i];
  v[DATA_SYMBOLS] = (((31 - (s % 31)) % 31) * 23) % 31; // 23 = 27^-1 (mod 31)
  let out = "";
  for (let i = 0; i < SYMBOLS; i += 1) {
    if (i !== 0 && i % 3 === 0) out += "-";
    out += CARD_ALPHABET[v[i]];
  }
  return out;
}

/**
 * 16 fresh bytes from the browser's cryptographic random generator (crypto.getRandomValues): the
 * secret of a new card. Any 16 bytes are below 2^128, so formatCardCode makes a code the gateway's
 * parser accepts (tests/console/pseudonym_test.mjs checks it against crypto/src/card.cpp). The
 * caller wipes the bytes (fill(0)) once the code is printed and the pseudonym derived.
 */
export function newCardSecret(random = globalThis.crypto) {
  const secret = new Uint8Array(16);
  random.getRandomValues(secret);
  return secret;
}

/** "sp1-" + 64 lowercase hex digits: the service pseudonym of `secret` at `serviceId`. */
export async function servicePseudonym(secret, serviceId, subtle = globalThis.crypto.subtle) {
  if (!(secret instanceof Uint8Array) || secret.length !== 16) throw new TypeError("16 bytes expected");
  const key = await subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const label = new TextEncoder().encode(LABEL);
  const service = new TextEncoder().encode(String(serviceId));
  const message = new Uint8Array(label.length + 1 + service.length);
  message.set(label, 0);
  message[label.length] = 0;
  message.set(service, label.length + 1);
  const mac = new Uint8Array(await subtle.sign("HMAC", key, message));
  let hex = "sp1-";
  for (const b of mac) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/**
 * The pseudonyms of the card at each service id, from a typed or scanned code; the secret is
 * wiped before returning (importKey keeps its own non-extractable copy). Throws CardCodeError.
 */
export async function pseudonymsFromCode(text, serviceIds) {
  const secret = parseCardCode(extractCardCode(text));
  try {
    const out = [];
    for (const id of serviceIds) out.push(await servicePseudonym(secret, id));
    return out;
  } finally {
    secret.fill(0);
  }
}

/**
 * The message for a refusal, from the form's data attributes (the server renders them from the
 * NL/FR/EN catalogues): data-msg-<kind>, with {character}, {count} and {lookalike} replaced by
 * text (set with textContent, never as markup). A lookalike uses data-msg-lookalike when present.
 */
export function refusalMessage(form, error) {
  const d = form.dataset;
  const kind = error instanceof CardCodeError ? error.kind : "failed";
  const key = kind === "bad-character" && error.detail.lookalike && d.msgLookalike ? "msgLookalike"
    : "msg" + kind.split("-").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  const template = d[key] || d.msgFailed || kind;
  const detail = error instanceof CardCodeError ? error.detail : {};
  return template.replace(/\{(character|count|lookalike)\}/g, (_, name) =>
    detail[name] === undefined ? "" : String(detail[name]));
}

/**
 * Binds every <form data-card-pseudonym> in `root`. Expected markup (names are the console's):
 *   <form data-card-pseudonym data-service-ids="nachtopvang[ other-service]"
 *         data-msg-empty="…" data-msg-bad-character="…{character}…" data-msg-lookalike="…"
 *         data-msg-wrong-length="…{count}…" data-msg-typo="…" data-msg-not-issued="…"
 *         data-msg-failed="…">
 *     <input data-card-code autocomplete="off" aria-describedby="…">   (no name attribute)
 *     <input type="hidden" name="pseudonym">      (one per service id, in order, when several)
 *     <p data-card-message role="alert"></p>
 * On submit the pseudonyms are derived, the card-code field is emptied and the form is sent;
 * on a refusal nothing is sent and the message is shown and focus goes back to the field.
 * A URL fragment holding a code (a QR code opened on a phone) fills the field and is removed
 * from the address bar at once.
 */
export function bindCardForms(root = globalThis.document) {
  if (!root) return;
  for (const form of root.querySelectorAll("form[data-card-pseudonym]")) {
    const field = form.querySelector("input[data-card-code]");
    const outputs = form.querySelectorAll('input[type="hidden"][name^="pseudonym"]');
    const message = form.querySelector("[data-card-message]");
    if (!field || outputs.length === 0) continue;
    const loc = globalThis.location;
    if (loc && loc.hash.length > 1) {
      try {
        field.value = decodeURIComponent(loc.hash.slice(1));
      } catch {
        field.value = loc.hash.slice(1); // a stray '%': the parser will say what is wrong
      }
      globalThis.history.replaceState(null, "", loc.pathname + loc.search);
    }
    let ready = false;
    form.addEventListener("submit", async (event) => {
      if (ready) {
        ready = false; // the pseudonyms are in place: let the browser send the form, once
        return;
      }
      event.preventDefault();
      const ids = (form.dataset.serviceIds || "").split(" ").filter((s) => s.length > 0);
      try {
        const pseudonyms = await pseudonymsFromCode(field.value, ids);
        if (pseudonyms.length !== outputs.length) throw new Error("form does not match its services");
        pseudonyms.forEach((p, i) => {
          outputs[i].value = p;
        });
        field.value = "";
        if (message) message.textContent = "";
        ready = true;
        // From a new task: Chromium does not submit a form whose requestSubmit() runs in the
        // continuation of that form's own submit event (tests/browser/lowthreshold.test.mjs).
        const submitter = event.submitter || undefined;
        setTimeout(() => form.requestSubmit(submitter), 0);
      } catch (error) {
        outputs.forEach((o) => {
          o.value = "";
        });
        if (message) message.textContent = refusalMessage(form, error);
        field.setAttribute("aria-invalid", "true");
        field.focus();
      }
    });
  }
}

if (globalThis.document) {
  if (globalThis.document.readyState === "loading") {
    globalThis.document.addEventListener("DOMContentLoaded", () => bindCardForms());
  } else {
    bindCardForms();
  }
}
