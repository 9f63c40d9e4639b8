// The print button: any element with data-print opens the browser's print dialog (print.css
// lays the page out). A same-origin module, so the CSP needs no inline script.
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
