// The low-threshold pages' entry script. The layout loads classic scripts; the card code's
// handling lives in ES modules (pseudonym.js, lowthreshold_card.js, lowthreshold_link.js), loaded
// here with import() from this same origin (the CSP's script-src 'self'). Each module binds the
// elements it finds on the page.
if (document.querySelector("form[data-own-service]")) import("./lowthreshold_link.js");
if (document.querySelector("form[data-card-pseudonym]")) import("./pseudonym.js");
if (document.querySelector("[data-card-issue]")) import("./lowthreshold_card.js");
