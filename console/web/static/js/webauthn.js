// Passkey sign-in and enrolment (WebAuthn) for the console's login and enrolment pages.
// Same-origin only: it asks the console for a challenge, runs the browser's ceremony and posts
// the answer back with the page's form token; the console verifies everything.
"use strict";
(function () {
  function toBytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function toText(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    for (let i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields),
    });
  }
  async function answer(response) {
    if (!response.ok) throw new Error("refused");
    return response.json();
  }

  async function signIn(csrf) {
    const options = await answer(await post("/login/options", { csrf }));
    const credential = await navigator.credentials.get({
      publicKey: {
        challenge: toBytes(options.challenge),
        rpId: options.rpId,
        timeout: options.timeout,
        userVerification: options.userVerification,
        allowCredentials: [],
      },
    });
    const r = credential.response;
    return answer(await post("/login/finish", {
      csrf,
      id: toText(credential.rawId),
      client_data: toText(r.clientDataJSON),
      authenticator_data: toText(r.authenticatorData),
      signature: toText(r.signature),
    }));
  }

  async function enrol(csrf) {
    const o = await answer(await post("/enrol/options", { csrf }));
    const credential = await navigator.credentials.create({
      publicKey: {
        challenge: toBytes(o.challenge),
        rp: o.rp,
        user: { id: toBytes(o.user.id), name: o.user.name, displayName: o.user.displayName },
        pubKeyCredParams: o.pubKeyCredParams,
        timeout: o.timeout,
        attestation: o.attestation,
        authenticatorSelection: o.authenticatorSelection,
      },
    });
    const r = credential.response;
    return answer(await post("/enrol/finish", {
      csrf,
      id: toText(credential.rawId),
      client_data: toText(r.clientDataJSON),
      attestation_object: toText(r.attestationObject),
    }));
  }

  for (const form of document.querySelectorAll("form.passkey")) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const error = document.getElementById("passkey-error");
      const button = form.querySelector("button");
      if (error) error.hidden = true;
      button.disabled = true;
      try {
        const csrf = form.elements.csrf.value;
        const done = form.dataset.ceremony === "enrol" ? await enrol(csrf) : await signIn(csrf);
        window.location.assign(done.redirect);
      } catch (e) {
        button.disabled = false;
        if (error) {
          error.hidden = false;
          error.focus();
        }
      }
    });
  }
})();
