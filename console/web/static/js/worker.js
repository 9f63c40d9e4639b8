// The worker's pages: the national register / BIS number is checked in the page as it is typed
// (the same rule the console checks again on the server): 11 digits, the last two the check
// number 97 - (first nine mod 97), with a leading 2 for births from 2000; a BIS number's month is
// raised by 20 or 40. The number itself never leaves this form except to the console's POST.
"use strict";

function registerNumberOk(raw, bis) {
  if (!/^[0-9 .\-]*$/.test(raw)) return false;
  const d = raw.replace(/[ .\-]/g, "");
  if (d.length !== 11) return false;
  const first9 = BigInt(d.slice(0, 9));
  const check = BigInt(d.slice(9));
  const ok = 97n - (first9 % 97n) === check || 97n - ((2000000000n + first9) % 97n) === check;
  const month = Number(d.slice(2, 4));
  const monthOk = bis ? (month >= 20 && month <= 32) || (month >= 40 && month <= 52)
                      : month >= 0 && month <= 12;
  return ok && monthOk;
}

const form = document.getElementById("register-form");
if (form) {
  const scheme = document.getElementById("scheme");
  const number = document.getElementById("number");
  const error = document.getElementById("number-error");
  const check = () => {
    let message = "";
    if (scheme.value !== "case-number" && number.value.trim() !== "" &&
        !registerNumberOk(number.value.trim(), scheme.value === "bis")) {
      message = scheme.value === "bis" ? number.dataset.msgBis : number.dataset.msgRegister;
    }
    number.setCustomValidity(message);
    error.textContent = message;
    error.hidden = message === "";
    number.setAttribute("aria-invalid", message === "" ? "false" : "true");
    return message === "";
  };
  number.addEventListener("change", check);
  scheme.addEventListener("change", check);
  form.addEventListener("submit", (event) => {
    if (!check()) {
      event.preventDefault();
      number.focus();
    }
  });
}
