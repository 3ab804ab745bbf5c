// Sign-in form, served in place of the chat page or the dashboard while auth is on and the
// browser has no session: POST the key to /auth/session (which sets an HttpOnly cookie),
// then load the page again.
"use strict";

(() => {
  const form = document.getElementById("signin");
  const input = document.getElementById("signin-key");
  const send = document.getElementById("signin-send");
  const error = document.getElementById("signin-error");
  const operator = location.pathname.startsWith("/dashboard");
  const wanted = operator ? ["admin", "reader"] : ["caller"];
  document.getElementById("signin-hint").textContent = operator
    ? "The admin key, or a tenant read key (that tenant's figures only)"
    : "Your API key";

  function fail(text) {
    error.textContent = text;
    error.hidden = false;
    send.disabled = false;
    input.select();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    send.disabled = true;
    error.hidden = true;
    let answer;
    try {
      answer = await fetch("/auth/session", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ key: input.value }),
        credentials: "same-origin",
      });
    } catch {
      fail("The gateway could not be reached.");
      return;
    }
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      fail((body.error && body.error.message) || `sign-in failed (${answer.status})`);
      return;
    }
    if (!wanted.includes(body.role)) {
      fail(operator
        ? "That is an API key; the dashboard needs the admin key or a tenant read key."
        : "That key cannot chat; the chat page needs an API key.");
      return;
    }
    location.reload();
  });
})();
