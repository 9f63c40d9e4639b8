// Issue 14's console targets, measured (never a timed test): the CPU one console page showing a
// client's dossier costs (sluis-console + sluisd, from /proc/PID/schedstat) against the sluisd
// CPU of the /v1 dossier read behind it, side by side in one run; and the console's resident
// memory with 200 signed-in sessions. Run by tools/bench/console_bench.sh, which starts sluisd
// and sluis-console on a generated sector and passes everything below in the environment.
//
// Sign-in goes through the console's real WebAuthn ceremonies with a software authenticator
// written here (ES256, attestation "none", user verified): test tooling only, never shipped.
import { createHash, generateKeyPairSync, sign as ecdsaSign, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`console_bench: ${name} is not set (run tools/bench/console_bench.sh)`);
  return v;
};
const ORIGIN = env("CONSOLE_ORIGIN");            // http://localhost:PORT
const CONSOLE_PID = Number(env("CONSOLE_PID"));
const SLUISD_PID = Number(env("SLUISD_PID"));
const PAGE = env("CONSOLE_PAGE");                // the console page, with {client}
const READS = Number(process.env.BENCH_REQUESTS || "400");
const SESSIONS = Number(process.env.BENCH_SESSIONS || "200");
const origin = new URL(ORIGIN);

// --- CPU and memory from /proc ------------------------------------------------------------

/// Nanoseconds the process has run on a CPU (all threads), from /proc/PID/schedstat's first field
/// summed over /proc/PID/task/*.
function cpuNs(pid) {
  const tasks = execFileSync("ls", [`/proc/${pid}/task`], { encoding: "utf8" }).trim().split("\n");
  let total = 0n;
  for (const t of tasks) {
    try {
      total += BigInt(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch { /* a thread that ended between the listing and the read */ }
  }
  return total;
}
function statusKib(pid, field) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(field));
  return Number(line.split(/\s+/)[1]);
}

// --- a tiny CBOR encoder (maps, byte and text strings, integers) ---------------------------

function cborHead(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
  const b = Buffer.alloc(5); b[0] = (major << 5) | 26; b.writeUInt32BE(n, 1); return b;
}
function cbor(v) {
  if (Buffer.isBuffer(v)) return Buffer.concat([cborHead(2, v.length), v]);
  if (typeof v === "string") { const b = Buffer.from(v, "utf8"); return Buffer.concat([cborHead(3, b.length), b]); }
  if (typeof v === "number") return v >= 0 ? cborHead(0, v) : cborHead(1, -1 - v);
  if (v instanceof Map) {
    const parts = [cborHead(5, v.size)];
    for (const [k, x] of v) parts.push(cbor(k), cbor(x));
    return Buffer.concat(parts);
  }
  throw new Error("cbor: unsupported value");
}

// --- the software authenticator ----------------------------------------------------------

const b64u = (buf) => Buffer.from(buf).toString("base64url");
const sha256 = (b) => createHash("sha256").update(b).digest();

class Authenticator {
  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: "jwk" });
    this.cose = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, "base64url")],
      [-3, Buffer.from(jwk.y, "base64url")]]));
    this.id = randomBytes(16);
    this.count = 0;
  }
  rpIdHash(rpId) { return sha256(Buffer.from(rpId)); }
  clientData(type, challenge) {
    return Buffer.from(JSON.stringify({ type, challenge, origin: ORIGIN, crossOrigin: false }));
  }
  register(options) {
    const counter = Buffer.alloc(4);
    const idLen = Buffer.alloc(2); idLen.writeUInt16BE(this.id.length);
    const authData = Buffer.concat([this.rpIdHash(options.rp.id), Buffer.from([0x45]), counter,
      Buffer.alloc(16), idLen, this.id, this.cose]);
    const attestation = cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", authData]]));
    return { id: b64u(this.id), client_data: b64u(this.clientData("webauthn.create", options.challenge)),
      attestation_object: b64u(attestation) };
  }
  assert(options) {
    this.count += 1;
    const counter = Buffer.alloc(4); counter.writeUInt32BE(this.count);
    const authData = Buffer.concat([this.rpIdHash(options.rpId), Buffer.from([0x05]), counter]);
    const clientData = this.clientData("webauthn.get", options.challenge);
    const signature = ecdsaSign("sha256", Buffer.concat([authData, sha256(clientData)]), this.privateKey);
    return { id: b64u(this.id), client_data: b64u(clientData), authenticator_data: b64u(authData),
      signature: b64u(signature) };
  }
}

// --- the console over HTTP (keep-alive, as a browser) ----------------------------------------

const consoleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function consoleRequest(method, path, { cookie, form } = {}) {
  return new Promise((resolve, reject) => {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const headers = { Host: origin.host, "Accept-Language": "en" };
    if (cookie) headers.Cookie = `__Host-sluis-session=${cookie}`;
    if (body !== undefined) {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      headers["Content-Length"] = Buffer.byteLength(body);
      headers["Sec-Fetch-Site"] = "same-origin";
      headers.Origin = ORIGIN;
    }
    const req = http.request({ host: "127.0.0.1", port: origin.port, method, path, headers,
      agent: consoleAgent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const set = (res.headers["set-cookie"] || []).map((c) => c.match(/^__Host-sluis-session=([^;]*)/))
          .find(Boolean);
        resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8"),
          cookie: set ? set[1] : undefined });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
const csrfIn = (html) => html.match(/name="csrf" value="([^"]+)"/)[1];

async function enrol(auth, link) {
  const url = new URL(link);
  const page = await consoleRequest("GET", url.pathname + url.search);
  if (page.status !== 200) throw new Error(`enrolment page: ${page.status}`);
  const cookie = page.cookie;
  const csrf = csrfIn(page.body);
  const options = JSON.parse((await consoleRequest("POST", "/enrol/options", { cookie, form: { csrf } })).body);
  const done = await consoleRequest("POST", "/enrol/finish",
    { cookie, form: { csrf, ...auth.register(options) } });
  if (done.status !== 200 || !done.cookie) throw new Error(`enrolment refused: ${done.status}`);
  return done.cookie;
}

async function signIn(auth) {
  const page = await consoleRequest("GET", "/login");
  const cookie = page.cookie;
  const csrf = csrfIn(page.body);
  const options = JSON.parse((await consoleRequest("POST", "/login/options", { cookie, form: { csrf } })).body);
  const done = await consoleRequest("POST", "/login/finish", { cookie, form: { csrf, ...auth.assert(options) } });
  if (done.status !== 200 || !done.cookie) throw new Error(`sign-in refused: ${done.status} ${done.body}`);
  return done.cookie;
}

// --- sluisd's /v1 read, directly (mTLS, keep-alive, as a partner's case system) ----------------

const gatewayAgent = new https.Agent({ keepAlive: true, maxSockets: 1,
  ca: readFileSync(env("GATEWAY_CA")), cert: readFileSync(env("PARTNER_CERT")),
  key: readFileSync(env("PARTNER_KEY")), servername: "localhost" });

function gatewayRead(path, purpose = env("PURPOSE")) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port: Number(env("GATEWAY_PORT")), path,
      headers: { "Sluis-Worker": env("WORKER"), "Sluis-Purpose": purpose },
      agent: gatewayAgent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

// --- the run ---------------------------------------------------------------------------------

async function measure(label, n, fn, pids) {
  for (let i = 0; i < 5; i++) await fn();  // warm-up: caches, connections
  const before = pids.map(cpuNs);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const per = pids.map((p, i) => Number(cpuNs(p) - before[i]) / 1000 / n);
  return { label, n, wall_ms: wall, cpu_us: per };
}

const client = env("CLIENT");
const dossier = `/v1/clients/${client}/dossier`;
const pagePath = PAGE.replace("{client}", encodeURIComponent(client));

const first = await gatewayRead(dossier);
if (first.status !== 200) throw new Error(`the /v1 read answers ${first.status}: ${first.body.slice(0, 200)}`);
const fragments = JSON.parse(first.body).fragments?.length ?? 0;

const auth = new Authenticator();
const link = execFileSync(env("CONSOLE_BIN"), ["account", "invite", "--config", env("CONSOLE_CONFIG"),
  "--partner", env("PARTNER"), "--worker", env("WORKER"), "--role", "worker"], { encoding: "utf8" }).trim();
const cookie = await enrol(auth, link);
const probe = await consoleRequest("GET", pagePath, { cookie });
if (probe.status !== 200) throw new Error(`the console page ${pagePath} answers ${probe.status}`);

// The direct read and the page are measured in alternating blocks (ten of each), so that a
// change in the machine's load during the run weighs on both sides alike.
const BLOCKS = 10;
const readDirect = async () => {
  const r = await gatewayRead(dossier);
  if (r.status !== 200) throw new Error(`read ${r.status}`);
};
const readPage = async () => {
  const r = await consoleRequest("GET", pagePath, { cookie });
  if (r.status !== 200) throw new Error(`page ${r.status}`);
};
// What each /v1 call a console page may make costs sluisd on its own (to see where a page's
// sluisd CPU goes).
const calls = [["/v1/me", "administration"], ["/v1/rule-pack", "administration"],
  ["/v1/partners", "administration"], [`/v1/clients/${client}/consents`, "administration"],
  [`/v1/clients/${client}/label`, "administration"]];
const breakdown = [];
for (const [path, purpose] of calls) {
  const m = await measure(path, Math.max(50, Math.floor(READS / 4)), async () => {
    const r = await gatewayRead(path, purpose);
    if (r.status !== 200) throw new Error(`${path} ${r.status}: ${r.body.slice(0, 200)}`);
  }, [SLUISD_PID]);
  breakdown.push([path.replace(client, "{client}"), m.cpu_us[0]]);
}
process.stderr.write(`console_bench: measuring the read and the page (${READS} requests each)\n`);
const per = Math.max(1, Math.floor(READS / BLOCKS));
const direct = { cpu_us: [0] };
const viaConsole = { cpu_us: [0, 0] };
for (let b = 0; b < BLOCKS; b++) {
  const d = await measure("/v1 dossier read (sluisd)", per, readDirect, [SLUISD_PID]);
  const c = await measure("console page (sluis-console + sluisd)", per, readPage,
    [CONSOLE_PID, SLUISD_PID]);
  direct.cpu_us[0] += d.cpu_us[0] / BLOCKS;
  viaConsole.cpu_us[0] += c.cpu_us[0] / BLOCKS;
  viaConsole.cpu_us[1] += c.cpu_us[1] / BLOCKS;
}

const rssBefore = statusKib(CONSOLE_PID, "VmRSS:");
const cookies = [];
for (let i = 0; i < SESSIONS; i++) cookies.push(await signIn(auth));
for (const c of cookies) {
  const r = await consoleRequest("GET", pagePath, { cookie: c });
  if (r.status !== 200) throw new Error(`page in session ${cookies.indexOf(c)}: ${r.status}`);
}
const rssAfter = statusKib(CONSOLE_PID, "VmRSS:");
const hwm = statusKib(CONSOLE_PID, "VmHWM:");

const directUs = direct.cpu_us[0];
const consoleUs = viaConsole.cpu_us[0];
const behindUs = viaConsole.cpu_us[1];
const result = {
  page: PAGE, fragments, requests: READS,
  direct_sluisd_cpu_us: +directUs.toFixed(1),
  page_console_cpu_us: +consoleUs.toFixed(1),
  page_sluisd_cpu_us: +behindUs.toFixed(1),
  ratio: +((consoleUs + behindUs) / directUs).toFixed(2),
  sessions: SESSIONS, console_rss_mib_before: +(rssBefore / 1024).toFixed(1),
  console_rss_mib_with_sessions: +(rssAfter / 1024).toFixed(1), console_peak_mib: +(hwm / 1024).toFixed(1),
  sluisd_cpu_us_per_call: Object.fromEntries(breakdown.map(([p, us]) => [p, +us.toFixed(1)])),
};
console.log(JSON.stringify(result));
console.log(`| what | CPU µs per request |
|---|---:|
| sluisd, /v1 dossier read (${fragments} fragments), direct | ${directUs.toFixed(0)} |
| sluis-console, the page ${PAGE} | ${consoleUs.toFixed(0)} |
| sluisd, behind that page | ${behindUs.toFixed(0)} |
| **page total ÷ direct read** | **${result.ratio}×** (target ≤ 1.5×) |

${breakdown.map(([p, us]) => `| sluisd, ${p} alone | ${us.toFixed(0)} |`).join("\n")}

Console RSS: ${result.console_rss_mib_before} MiB before, ${result.console_rss_mib_with_sessions} MiB with ${SESSIONS} signed-in sessions (peak ${result.console_peak_mib} MiB; target < 100 MiB).`);
consoleAgent.destroy();
gatewayAgent.destroy();
