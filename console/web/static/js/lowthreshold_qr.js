// A QR code encoder in the browser (ISO/IEC 18004:2015: byte mode, level M, versions 1 to 10),
// so a card's code is drawn on the page and never sent to the console to be drawn there.
//
// It makes the same symbol as the console's C++ encoder (console/src/qr.cpp) for the same bytes:
// the smallest version that holds them, all eight masks tried and the lowest penalty kept (the
// first on a tie). tests/console/qr_test.mjs compares the two module by module.
// drawQrSvg renders a symbol as an SVG element with DOM calls only (no markup strings, no inline
// style: the CSP allows neither).

export const QR_MIN_VERSION = 1;
export const QR_MAX_VERSION = 10;

// ISO 18004 Table 9, level M: EC codewords per block, then blocks and data codewords per block of
// the two groups.
const LEVEL_M = [
  null,
  [10, 1, 16, 0, 0],
  [16, 1, 28, 0, 0],
  [26, 1, 44, 0, 0],
  [18, 2, 32, 0, 0],
  [24, 2, 43, 0, 0],
  [16, 4, 27, 0, 0],
  [18, 4, 31, 0, 0],
  [22, 2, 38, 2, 39],
  [22, 3, 36, 2, 37],
  [26, 4, 43, 1, 44],
];
// Alignment pattern centres (ISO 18004 Annex E).
const ALIGNMENT = [[], [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42],
  [6, 26, 46], [6, 28, 50]];

const side = (version) => 17 + 4 * version;
const dataCodewordCount = (version) => {
  const [, b1, d1, b2, d2] = LEVEL_M[version];
  return b1 * d1 + b2 * d2;
};
const bitsNeeded = (length, version) => 4 + (version <= 9 ? 8 : 16) + 8 * length;

/** Why encodeQr refused: "too-long" (over 213 bytes) or "bad-version". */
export class QrError extends Error {
  constructor(kind) {
    super(`qr: ${kind}`);
    this.name = "QrError";
    this.kind = kind;
  }
}

// GF(256) with x^8 + x^4 + x^3 + x^2 + 1 (0x11D).
function gfMultiply(a, b) {
  let r = 0;
  for (let i = 7; i >= 0; i -= 1) {
    r = ((r << 1) ^ ((r >>> 7) * 0x11d)) & 0x1ff;
    r ^= ((b >>> i) & 1) * a;
  }
  return r & 0xff;
}

// The generator polynomial ∏ (x − α^i), i < degree, highest coefficient omitted.
function generator(degree) {
  const g = new Array(degree).fill(0);
  g[degree - 1] = 1;
  let root = 1;
  for (let i = 0; i < degree; i += 1) {
    for (let j = 0; j < degree; j += 1) {
      g[j] = gfMultiply(g[j], root);
      if (j + 1 < degree) g[j] ^= g[j + 1];
    }
    root = gfMultiply(root, 2);
  }
  return g;
}

/** The Reed–Solomon EC codewords of `data` (ISO 18004 §7.5.2). Exposed for tests. */
export function qrErrorCorrection(data, ecCodewords) {
  if (ecCodewords === 0) return [];
  const g = generator(ecCodewords);
  const rem = new Array(ecCodewords).fill(0);
  for (const b of data) {
    const factor = b ^ rem[0];
    rem.shift();
    rem.push(0);
    for (let i = 0; i < ecCodewords; i += 1) rem[i] ^= gfMultiply(g[i], factor);
  }
  return rem;
}

/** The 15 format bits for level M and `mask` (BCH(15,5), XOR 0x5412). */
export function qrFormatBits(mask) {
  const data = mask & 7;
  let rem = data;
  for (let i = 0; i < 10; i += 1) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  return ((data << 10) | (rem & 0x3ff)) ^ 0x5412;
}

/** The 18 version bits for versions 7 and up (BCH(18,6)). */
export function qrVersionBits(version) {
  let rem = version;
  for (let i = 0; i < 12; i += 1) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
  return (version << 12) | (rem & 0xfff);
}

// ISO 18004 §7.4: mode 0100, the count, the bytes, terminator, byte boundary, 0xEC 0x11 padding.
function dataCodewords(bytes, version) {
  const capacity = dataCodewordCount(version) * 8;
  const bits = [];
  const put = (value, count) => {
    for (let i = count - 1; i >= 0; i -= 1) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4);
  put(bytes.length, version <= 9 ? 8 : 16);
  for (const b of bytes) put(b, 8);
  put(0, Math.min(4, capacity - bits.length));
  put(0, (8 - (bits.length % 8)) % 8);
  const out = [];
  for (let i = 0; i < bits.length; i += 8) {
    let v = 0;
    for (let k = 0; k < 8; k += 1) v = (v << 1) | bits[i + k];
    out.push(v);
  }
  bits.fill(0);
  for (let pad = 0xec; out.length < capacity / 8; pad = pad === 0xec ? 0x11 : 0xec) out.push(pad);
  return out;
}

// Blocks, their EC codewords, interleaved (ISO 18004 §7.6).
function finalCodewords(data, version) {
  const [ec, b1, d1, b2, d2] = LEVEL_M[version];
  const blocks = [];
  const ecs = [];
  let offset = 0;
  for (let b = 0; b < b1 + b2; b += 1) {
    const n = b < b1 ? d1 : d2;
    blocks.push(data.slice(offset, offset + n));
    ecs.push(qrErrorCorrection(blocks[blocks.length - 1], ec));
    offset += n;
  }
  const out = [];
  const longest = Math.max(d1, d2);
  for (let i = 0; i < longest; i += 1) {
    for (const blk of blocks) if (i < blk.length) out.push(blk[i]);
  }
  for (let i = 0; i < ec; i += 1) for (const e of ecs) out.push(e[i]);
  for (const blk of blocks) blk.fill(0);
  return out;
}

class Matrix {
  constructor(version) {
    this.version = version;
    this.n = side(version);
    this.dark = new Uint8Array(this.n * this.n);
    this.fn = new Uint8Array(this.n * this.n);
  }
  clone() {
    const m = new Matrix(this.version);
    m.dark.set(this.dark);
    m.fn.set(this.fn);
    return m;
  }
  at(x, y) {
    return this.dark[y * this.n + x] !== 0;
  }
  setFunction(x, y, d) {
    this.dark[y * this.n + x] = d ? 1 : 0;
    this.fn[y * this.n + x] = 1;
  }
  drawFunctionPatterns() {
    const n = this.n;
    for (let i = 0; i < n; i += 1) {
      this.setFunction(6, i, i % 2 === 0);
      this.setFunction(i, 6, i % 2 === 0);
    }
    this.drawFinder(3, 3);
    this.drawFinder(n - 4, 3);
    this.drawFinder(3, n - 4);
    const centres = ALIGNMENT[this.version];
    const count = centres.length;
    for (let i = 0; i < count; i += 1) {
      for (let j = 0; j < count; j += 1) {
        if ((i === 0 && j === 0) || (i === 0 && j === count - 1) || (i === count - 1 && j === 0)) {
          continue;
        }
        this.drawAlignment(centres[i], centres[j]);
      }
    }
    this.drawFormat(0);
    this.drawVersion();
  }
  drawFinder(cx, cy) {
    for (let dy = -4; dy <= 4; dy += 1) {
      for (let dx = -4; dx <= 4; dx += 1) {
        const x = cx + dx;
        const y = cy + dy;
        if (x < 0 || y < 0 || x >= this.n || y >= this.n) continue;
        const d = Math.max(Math.abs(dx), Math.abs(dy));
        this.setFunction(x, y, d !== 2 && d !== 4);
      }
    }
  }
  drawAlignment(cx, cy) {
    for (let dy = -2; dy <= 2; dy += 1) {
      for (let dx = -2; dx <= 2; dx += 1) {
        this.setFunction(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }
  }
  // ISO 18004 §7.9.1, Figure 25.
  drawFormat(mask) {
    const n = this.n;
    const bits = qrFormatBits(mask);
    const bit = (i) => ((bits >>> i) & 1) !== 0;
    for (let i = 0; i <= 5; i += 1) this.setFunction(8, i, bit(i));
    this.setFunction(8, 7, bit(6));
    this.setFunction(8, 8, bit(7));
    this.setFunction(7, 8, bit(8));
    for (let i = 9; i < 15; i += 1) this.setFunction(14 - i, 8, bit(i));
    for (let i = 0; i < 8; i += 1) this.setFunction(n - 1 - i, 8, bit(i));
    for (let i = 8; i < 15; i += 1) this.setFunction(8, n - 15 + i, bit(i));
    this.setFunction(8, n - 8, true);
  }
  // ISO 18004 §7.10, Figure 27.
  drawVersion() {
    if (this.version < 7) return;
    const bits = qrVersionBits(this.version);
    for (let i = 0; i < 18; i += 1) {
      const d = ((bits >>> i) & 1) !== 0;
      const a = this.n - 11 + (i % 3);
      const b = Math.floor(i / 3);
      this.setFunction(a, b, d);
      this.setFunction(b, a, d);
    }
  }
  // ISO 18004 §7.7.3: two-module columns from the right, zig-zag, skipping column 6.
  place(codewords) {
    const n = this.n;
    let i = 0;
    const total = codewords.length * 8;
    for (let right = n - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      const upward = ((right + 1) & 2) === 0;
      for (let k = 0; k < n; k += 1) {
        const y = upward ? n - 1 - k : k;
        for (let dx = 0; dx < 2; dx += 1) {
          const x = right - dx;
          if (this.fn[y * n + x]) continue;
          if (i < total) {
            this.dark[y * n + x] = (codewords[i >>> 3] >>> (7 - (i % 8))) & 1;
            i += 1;
          }
        }
      }
    }
  }
  applyMask(mask) {
    const n = this.n;
    for (let y = 0; y < n; y += 1) {
      for (let x = 0; x < n; x += 1) {
        if (!this.fn[y * n + x] && maskCondition(mask, x, y)) this.dark[y * n + x] ^= 1;
      }
    }
  }
  // ISO 18004 §7.8.3, Table 11 (N1 = 3, N2 = 3, N3 = 40, N4 = 10), as the C++ encoder scores.
  penalty() {
    const n = this.n;
    let score = 0;
    const BEFORE = [0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1];
    const AFTER = [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0];
    for (let pass = 0; pass < 2; pass += 1) {
      for (let a = 0; a < n; a += 1) {
        const at = (k) => (k < 0 || k >= n ? 0 : pass === 0 ? this.dark[a * n + k] : this.dark[k * n + a]);
        let run = 0;
        let colour = -1;
        for (let b = 0; b < n; b += 1) {
          const d = at(b);
          if (b === 0 || d !== colour) {
            if (run >= 5) score += 3 + (run - 5);
            colour = d;
            run = 1;
          } else {
            run += 1;
          }
        }
        if (run >= 5) score += 3 + (run - 5);
        for (let b = -4; b < n; b += 1) {
          let before = true;
          let after = true;
          for (let k = 0; k < 11; k += 1) {
            const d = at(b + k);
            before = before && d === BEFORE[k];
            after = after && d === AFTER[k];
          }
          if (before) score += 40;
          if (after) score += 40;
        }
      }
    }
    for (let y = 0; y + 1 < n; y += 1) {
      for (let x = 0; x + 1 < n; x += 1) {
        const d = this.dark[y * n + x];
        if (d === this.dark[y * n + x + 1] && d === this.dark[(y + 1) * n + x] &&
            d === this.dark[(y + 1) * n + x + 1]) score += 3;
      }
    }
    let darkCount = 0;
    for (const m of this.dark) darkCount += m;
    const total = n * n;
    const deviation = Math.abs(darkCount * 20 - total * 10);
    score += 10 * Math.floor(deviation / total);
    return score;
  }
  wipe() {
    this.dark.fill(0);
  }
}

function maskCondition(mask, x, y) {
  switch (mask) {
    case 0: return (x + y) % 2 === 0;
    case 1: return y % 2 === 0;
    case 2: return x % 3 === 0;
    case 3: return (x + y) % 3 === 0;
    case 4: return (Math.floor(y / 2) + Math.floor(x / 3)) % 2 === 0;
    case 5: return ((x * y) % 2) + ((x * y) % 3) === 0;
    case 6: return (((x * y) % 2) + ((x * y) % 3)) % 2 === 0;
    case 7: return (((x + y) % 2) + ((x * y) % 3)) % 2 === 0;
    default: return false;
  }
}

/**
 * Encodes `input` (a string, as UTF-8, or a Uint8Array) in byte mode at level M, in the smallest
 * version from `minVersion` up that holds it. Returns { version, mask, size, modules } with
 * modules a Uint8Array of size × size, row-major, 1 = dark; the caller wipes it (fill(0)) when
 * the symbol is drawn. Throws QrError.
 */
export function encodeQr(input, minVersion = QR_MIN_VERSION) {
  if (!Number.isInteger(minVersion) || minVersion < QR_MIN_VERSION || minVersion > QR_MAX_VERSION) {
    throw new QrError("bad-version");
  }
  const bytes = input instanceof Uint8Array ? input : new TextEncoder().encode(String(input));
  let version = minVersion;
  while (version <= QR_MAX_VERSION && bitsNeeded(bytes.length, version) > dataCodewordCount(version) * 8) {
    version += 1;
  }
  if (version > QR_MAX_VERSION) throw new QrError("too-long");
  const data = dataCodewords(bytes, version);
  const codewords = finalCodewords(data, version);
  data.fill(0);
  const base = new Matrix(version);
  base.drawFunctionPatterns();
  base.place(codewords);
  codewords.fill(0);
  let bestMask = 0;
  let bestScore = Infinity;
  for (let mask = 0; mask < 8; mask += 1) {
    const m = base.clone();
    m.applyMask(mask);
    m.drawFormat(mask);
    const score = m.penalty();
    m.wipe();
    if (score < bestScore) {
      bestScore = score;
      bestMask = mask;
    }
  }
  const chosen = base.clone();
  base.wipe();
  chosen.applyMask(bestMask);
  chosen.drawFormat(bestMask);
  return { version, mask: bestMask, size: chosen.n, modules: chosen.dark };
}

/**
 * The symbol as an <svg> element of `doc`: white square with the four-module quiet zone, one path
 * of the dark modules, role="img" labelled by a <title> holding `title` (never the encoded text).
 */
export function drawQrSvg(doc, qr, id, title) {
  const NS = "http://www.w3.org/2000/svg";
  const quiet = 4;
  const full = qr.size + 2 * quiet;
  const svg = doc.createElementNS(NS, "svg");
  svg.setAttribute("class", "qr");
  svg.setAttribute("viewBox", `0 0 ${full} ${full}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", id);
  svg.setAttribute("shape-rendering", "crispEdges");
  const t = doc.createElementNS(NS, "title");
  t.setAttribute("id", id);
  t.textContent = title;
  svg.appendChild(t);
  const rect = doc.createElementNS(NS, "rect");
  rect.setAttribute("width", String(full));
  rect.setAttribute("height", String(full));
  rect.setAttribute("fill", "#ffffff");
  svg.appendChild(rect);
  let d = "";
  for (let y = 0; y < qr.size; y += 1) {
    for (let x = 0; x < qr.size;) {
      if (!qr.modules[y * qr.size + x]) {
        x += 1;
        continue;
      }
      let run = 0;
      while (x + run < qr.size && qr.modules[y * qr.size + x + run]) run += 1;
      d += `M${x + quiet} ${y + quiet}h${run}v1h-${run}z`;
      x += run;
    }
  }
  const path = doc.createElementNS(NS, "path");
  path.setAttribute("fill", "#000000");
  path.setAttribute("d", d);
  svg.appendChild(path);
  return svg;
}
