// Issuing a card in the browser: the card secret is made here (crypto.getRandomValues), its code
// and QR code are drawn here, and only the service pseudonym derived from it (WebCrypto) is sent
// to the console, which registers it with sluisd. The secret, the code and the QR code never
// leave the page (docs/threat-model.md, "card secrets").
//
// Markup (console/web/templates/lowthreshold_card.html):
//   <section data-card-issue data-service-id="straat" data-post-url="/guests/new-card"
//            data-qr-title="…" data-msg-failed="…" data-msg-refused="…{code}…"
//            data-msg-registered="…">
//     <input type="hidden" name="csrf" value="…">
//     <button type="button" data-card-make>…</button>
//     <div data-card-preview hidden> <article class="print-card"> … <div data-card-qr></div> …
//       <p class="card-code" data-card-code-text></p> … </article> </div>
//     <p data-card-status role="status"></p>
//     <button type="button" data-print hidden>…</button> <a data-card-next hidden href="">…</a>
//   </section>
import { formatCardCode, newCardSecret, servicePseudonym } from "./pseudonym.js";
import { encodeQr, drawQrSvg } from "./lowthreshold_qr.js";

/**
 * A new card: its printed code, the URL its QR code holds (the console's serve page with the
 * code in the fragment, which browsers never send), and its pseudonym at `serviceId`.
 */
export async function newCard(serviceId, origin) {
  const secret = newCardSecret();
  try {
    const code = formatCardCode(secret);
    const pseudonym = await servicePseudonym(secret, serviceId);
    return { code, url: `${origin}/guests#${code}`, pseudonym };
  } finally {
    secret.fill(0);
  }
}

// POSTs the pseudonym (and the form token) to the console; the answer is JSON:
// {"guest": "/guests/p1…"} or {"problem": "card-in-use", "message": "…"} (in the page's language).
async function register(section, pseudonym) {
  const body = new URLSearchParams();
  body.set("csrf", section.querySelector('input[name="csrf"]').value);
  body.set("pseudonym", pseudonym);
  const answer = await fetch(section.dataset.postUrl, {
    method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" },
  });
  let json = {};
  try {
    json = await answer.json();
  } catch {
    json = {};
  }
  return { ok: answer.ok && typeof json.guest === "string", json };
}

function bind(section) {
  const make = section.querySelector("[data-card-make]");
  const preview = section.querySelector("[data-card-preview]");
  const qrBox = section.querySelector("[data-card-qr]");
  const codeText = section.querySelector("[data-card-code-text]");
  const status = section.querySelector("[data-card-status]");
  const print = section.querySelector("[data-print]");
  const next = section.querySelector("[data-card-next]");
  if (!make || !preview || !qrBox || !codeText || !status) return;
  make.addEventListener("click", async () => {
    make.disabled = true;
    status.textContent = "";
    try {
      const card = await newCard(section.dataset.serviceId, globalThis.location.origin);
      const { ok, json } = await register(section, card.pseudonym);
      if (!ok) {
        status.textContent = json.message || section.dataset.msgFailed;
        make.disabled = false;
        return;
      }
      const qr = encodeQr(card.url);
      qrBox.replaceChildren(drawQrSvg(globalThis.document, qr, "card-qr-title", section.dataset.qrTitle));
      qr.modules.fill(0);
      codeText.textContent = card.code;
      preview.hidden = false;
      make.hidden = true;
      status.textContent = section.dataset.mode === "replace" ? section.dataset.msgReplaced : section.dataset.msgRegistered;
      if (print) {
        print.hidden = false;
        print.focus();
      }
      if (next) {
        next.href = json.guest;
        next.hidden = false;
      }
    } catch {
      status.textContent = section.dataset.msgFailed;
      make.disabled = false;
    }
  });
}

if (globalThis.document) {
  for (const section of globalThis.document.querySelectorAll("[data-card-issue]")) bind(section);
}
