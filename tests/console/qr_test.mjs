// The browser's QR encoder (console/web/static/js/lowthreshold_qr.js) against the console's C++
// encoder (console/src/qr.cpp): module for module, version and mask, for card codes, the card URL,
// every length up to the capacity of version 10-M and past it. Test tooling only:
//   node qr_test.mjs <console_qr_vectors executable> <lowthreshold_qr.js>
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const [generator, modulePath] = process.argv.slice(2);
if (!generator || !modulePath) {
  console.error("usage: node qr_test.mjs <console_qr_vectors> <lowthreshold_qr.js>");
  process.exit(2);
}
const source = readFileSync(modulePath);
const js = await import("data:text/javascript;base64," + source.toString("base64"));
const fromHex = (h) => new Uint8Array(h.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);

const lines = execFileSync(generator, { encoding: "utf8", maxBuffer: 256 << 20 })
  .split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
const versions = new Set();
const masks = new Set();
let symbols = 0;
for (const v of lines) {
  const input = fromHex(v.input_hex);
  if (v.error) {
    assert.throws(() => js.encodeQr(input, v.min_version), (e) => e instanceof js.QrError && e.kind === v.error,
      `refusal of ${input.length} bytes at ${v.min_version}`);
    continue;
  }
  const qr = js.encodeQr(input, v.min_version);
  const what = `${input.length} bytes from version ${v.min_version}`;
  assert.equal(qr.version, v.version, `version of ${what}`);
  assert.equal(qr.mask, v.mask, `mask of ${what}`);
  assert.equal(qr.size, v.rows.length, `size of ${what}`);
  for (let y = 0; y < qr.size; y += 1) {
    const row = Array.from(qr.modules.subarray(y * qr.size, (y + 1) * qr.size)).join("");
    assert.equal(row, v.rows[y], `row ${y} of ${what}`);
  }
  versions.add(qr.version);
  masks.add(qr.mask);
  symbols += 1;
}
assert.equal(versions.size, 10, `versions covered: ${[...versions]}`);
assert.equal(masks.size, 8, `masks covered: ${[...masks]}`);

// A string is encoded as its UTF-8 bytes.
const s = "Nachtopvang éè €";
assert.deepEqual(js.encodeQr(s).modules, js.encodeQr(new TextEncoder().encode(s)).modules);
// The published Reed–Solomon example (ISO 18004 Annex I: "01234567", version 1-M).
assert.deepEqual(js.qrErrorCorrection([0x10, 0x20, 0x0c, 0x56, 0x61, 0x80, 0xec, 0x11, 0xec, 0x11,
  0xec, 0x11, 0xec, 0x11, 0xec, 0x11], 10), [0xa5, 0x24, 0xd4, 0xc1, 0xed, 0x36, 0xc7, 0x87, 0x2c, 0x55]);
assert.equal(js.qrFormatBits(5), 0b100000011001110);  // level M, mask 5 (ISO 18004 Table C.1)
assert.equal(js.qrVersionBits(7), 0x07c94);           // ISO 18004 Table D.1

// drawQrSvg on a minimal stand-in for the DOM: the title is text, never the encoded bytes.
const made = [];
const doc = { createElementNS(ns, tag) {
  const el = { ns, tag, attrs: {}, children: [], textContent: "",
    setAttribute(k, v) { this.attrs[k] = v; }, appendChild(c) { this.children.push(c); } };
  made.push(el);
  return el;
} };
const code = "000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM1";
const svg = js.drawQrSvg(doc, js.encodeQr(code), "card-qr-title", "QR code of the card");
assert.equal(svg.tag, "svg");
assert.equal(svg.attrs["aria-labelledby"], "card-qr-title");
assert.equal(svg.children[0].textContent, "QR code of the card");
assert.ok(made.every((el) => !JSON.stringify(el.attrs).includes(code) && !el.textContent.includes(code)));
assert.match(svg.children[2].attrs.d, /^M4 4h7v1h-7z/);  // the top-left finder's first row

console.log(`lowthreshold_qr.js agrees with console/src/qr.cpp on ${symbols} symbols`);
