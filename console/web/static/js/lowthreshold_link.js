// Linking a card from another service: the card form derives two pseudonyms (pseudonym.js) —
// this service's and the first service's, whose id the worker picks from a list. This keeps the
// form's data-service-ids ("own first") in step with the list, so the derivation at submit uses
// the chosen service. The card code itself is handled by pseudonym.js and never sent.
function bind(form) {
  const select = form.querySelector("select[data-first-service]");
  if (!select) return;
  const own = form.dataset.ownService;
  const update = () => {
    form.dataset.serviceIds = select.value ? `${own} ${select.value}` : own;
  };
  select.addEventListener("change", update);
  update();
}

if (globalThis.document) {
  for (const form of globalThis.document.querySelectorAll("form[data-own-service]")) bind(form);
}
