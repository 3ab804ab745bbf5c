// Frugal chat page: one EventSource per question on /chat/stream (see the HTTP contract).
// Model text only ever reaches the DOM through textContent.
"use strict";

(() => {
  const form = document.getElementById("ask");
  const input = document.getElementById("question");
  const send = document.getElementById("send");
  const transcript = document.getElementById("transcript");
  const template = document.getElementById("exchange-template");
  const keepContext = document.getElementById("keep-context");
  let sessionId = newSessionId();
  let stopStreaming = null; // closes the answer in flight, if any

  // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
  function newSessionId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // Integer micro-USD to "$0.000123" without floating-point rounding.
  function usd(micros) {
    const digits = String(Math.abs(micros)).padStart(7, "0");
    const sign = micros < 0 ? "-" : "";
    return `${sign}$${digits.slice(0, -6)}.${digits.slice(-6)}`;
  }

  function parse(data) {
    try {
      return JSON.parse(data);
    } catch {
      return null;
    }
  }

  function show(el, text) {
    el.textContent = text;
    el.hidden = false;
  }

  function addExchange(question) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.querySelector(".question").textContent = question;
    transcript.appendChild(node);
    node.scrollIntoView({ block: "end" });
    return {
      root: node,
      answer: node.querySelector(".answer"),
      route: node.querySelector(".meta-route"),
      cache: node.querySelector(".meta-cache"),
      cost: node.querySelector(".meta-cost"),
      saved: node.querySelector(".meta-saved"),
      latency: node.querySelector(".meta-latency"),
      simulated: node.querySelector(".meta-simulated"),
      error: node.querySelector(".error"),
    };
  }

  function ask(question) {
    const view = addExchange(question);
    // Independent questions by default: a repeated question is then served from the cache.
    // With "Remember the conversation" each turn carries the session and its history.
    const params = new URLSearchParams({ message: question });
    if (keepContext.checked) params.set("session_id", sessionId);
    const source = new EventSource(`/chat/stream?${params}`);
    let finished = false;
    send.disabled = true;
    stopStreaming = () => finish("stopped");

    // Closing stops EventSource from reconnecting and asking the same question again.
    function finish(state) {
      finished = true;
      stopStreaming = null;
      source.close();
      view.root.dataset.state = state;
      send.disabled = false;
      input.focus();
    }

    source.addEventListener("meta", (event) => {
      const meta = parse(event.data);
      if (!meta) return;
      const route = meta.route || {};
      view.route.textContent = `${route.tier || "?"} · ${meta.model}`;
      view.route.title = route.reason || "";
      view.cache.textContent = `cache: ${meta.cache || "miss"}`;
      view.cache.dataset.cache = meta.cache || "miss";
      if (meta.simulated) view.simulated.hidden = false;
    });

    source.addEventListener("token", (event) => {
      const token = parse(event.data);
      if (token && typeof token.text === "string") {
        view.answer.textContent += token.text;
        view.root.scrollIntoView({ block: "end" });
      }
    });

    source.addEventListener("done", (event) => {
      const done = parse(event.data) || {};
      view.cost.dataset.micros = String(done.cost_usd_micros ?? "");
      show(view.cost, done.cost_known === false ? "cost unknown" : usd(done.cost_usd_micros || 0));
      show(view.saved, `saved ${usd(done.saved_usd_micros || 0)}`);
      const total = done.latency_ms && done.latency_ms.total;
      if (typeof total === "number") show(view.latency, `${Math.round(total)} ms`);
      if (done.simulated) view.simulated.hidden = false;
      finish("done");
    });

    // Both a server-sent `event: error` (a MessageEvent with JSON data) and a failed
    // connection (a plain Event, e.g. a 4xx JSON refusal) arrive as "error".
    source.addEventListener("error", (event) => {
      if (finished) return;
      const detail = event instanceof MessageEvent ? parse(event.data) : null;
      if (detail && detail.code) {
        show(view.error, `${detail.code}: ${detail.message || "the answer failed"}`);
        view.error.dataset.code = detail.code;
      } else {
        show(view.error, "The gateway refused the question or the connection failed.");
        view.error.dataset.code = "connection";
      }
      finish("error");
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || send.disabled) return;
    input.value = "";
    ask(question);
  });

  // With auth on the page was reached through a sign-in (a session cookie): offer to end it.
  const signOut = document.getElementById("sign-out");
  fetch("/auth/session", { credentials: "same-origin" })
    .then((answer) => answer.json())
    .then((session) => { signOut.hidden = !session.signed_in; })
    .catch(() => {});
  signOut.addEventListener("click", async () => {
    await fetch("/auth/session", { method: "DELETE", credentials: "same-origin" });
    location.reload();
  });

  document.getElementById("new-chat").addEventListener("click", () => {
    if (stopStreaming) stopStreaming();
    sessionId = newSessionId();
    transcript.replaceChildren();
    input.focus();
  });
})();
