/*
 * The customer's upload page: token (typed, or from the URL fragment), file (picked or
 * dropped), progress, pause/resume, errors and the receipt. The protocol is in
 * tus-client.js, numbers and strings in upload-format.js; the strings themselves come
 * from the page (its language) in #upload-messages.
 */
(function () {
  "use strict";

  const Tus = window.TuslogTus;
  const app = document.getElementById("upload-app");
  const messages = JSON.parse(document.getElementById("upload-messages").textContent);
  const lang = app.dataset.lang || "en";
  const $ = function (id) { return document.getElementById(id); };
  const ui = {
    form: $("upload-form"), token: $("token"), tokenField: $("token-field"),
    tokenError: $("token-error"), tokenSummary: $("token-summary"),
    tokenSummaryText: $("token-summary-text"), tokenChange: $("token-change"),
    drop: $("drop-zone"), file: $("file"), fileInfo: $("file-info"), fileError: $("file-error"),
    pending: $("pending"), start: $("start"),
    progressPanel: $("progress-panel"), status: $("status"), bar: $("progressbar"),
    fill: $("progress-fill"), sent: $("progress-sent"), rate: $("progress-rate"),
    pause: $("pause"), retryNow: $("retry-now"),
    errorPanel: $("error-panel"), errorText: $("error-text"), errorDetail: $("error-detail"),
    errorRetry: $("error-retry"), errorRestart: $("error-restart"), errorToken: $("error-token"),
    receiptPanel: $("receipt-panel"), copy: $("copy-receipt"), again: $("upload-again"),
    announcer: $("announcer"),
  };

  let token = null; // {token, prefix} while known; never written anywhere
  let file = null;
  let upload = null;
  let receiptText = "";
  let wakeLock = null;

  // ---------------------------------------------------------------- formatting
  const format = window.TuslogFormat(lang, messages);
  const t = format.t;
  const number = format.number;
  const bytes = format.bytes;
  const duration = format.duration;
  const percent = format.percent;

  function announce(text) {
    ui.announcer.textContent = text;
  }

  function show(element, visible) {
    element.hidden = !visible;
  }

  // ---------------------------------------------------------------- token
  /* The token from the link (/upload#<token>) leaves the address bar at once: it is kept
   * only in this page's memory and in this tab's history entry (history.state), so that
   * a reload keeps it. It never goes to localStorage, a URL or a request other than the
   * Authorization header of /files/. */
  function readFragment() {
    const state = history.state && typeof history.state === "object" ? history.state : {};
    if (location.hash.length <= 1) {
      if (state.tuslogToken) useToken(state.tuslogToken, true);
      return;
    }
    let value = location.hash.slice(1);
    try { value = decodeURIComponent(value); } catch (error) { /* keep it raw */ }
    value = value.trim();
    const parsed = Tus.parseToken(value);
    history.replaceState(Object.assign({}, state, { tuslogToken: parsed ? parsed.token : null }),
      "", location.pathname + location.search);
    useToken(value, true);
  }

  function useToken(value, fromLink) {
    const parsed = Tus.parseToken(value);
    token = parsed;
    if (parsed && fromLink) {
      ui.token.value = "";
      ui.tokenSummaryText.textContent = t("token.from_link", { prefix: parsed.prefix });
      show(ui.tokenSummary, true);
      show(ui.tokenField, false);
    } else {
      ui.token.value = value;
      show(ui.tokenSummary, false);
      show(ui.tokenField, true);
    }
    tokenProblem(value && !parsed ? t("token.format") : "");
    showPending();
    describeFile();
  }

  /** While typing: no complaint yet (that waits for Start), but a valid token at once
   *  shows what this browser still has to finish with it. Nothing here runs on blur:
   *  text appearing above the Start button as it is pressed would move it away from
   *  under the pointer and lose the click. */
  function tokenTyped() {
    token = Tus.parseToken(ui.token.value);
    if (token) tokenProblem("");
    showPending();
    describeFile();
  }

  function tokenProblem(text) {
    ui.tokenError.textContent = text;
    ui.token.classList.toggle("is-invalid", Boolean(text));
  }

  function changeToken() {
    token = null;
    history.replaceState(Object.assign({}, history.state, { tuslogToken: null }), "");
    ui.token.value = "";
    show(ui.tokenSummary, false);
    show(ui.tokenField, true);
    show(ui.pending, false);
    ui.token.focus();
  }

  function showPending() {
    const entries = Tus.ResumeStore.pending(Tus.browserStorage(), token ? token.prefix : null);
    const entry = entries[0];
    show(ui.pending, Boolean(entry) && !file);
    if (entry) {
      ui.pending.textContent = t("file.pending", {
        name: entry.name, size: bytes(entry.size), percent: percent(entry.offset || 0, entry.size),
      });
    }
  }

  // ---------------------------------------------------------------- file
  function pick(files) {
    fileProblem("");
    if (files.length > 1) return fileProblem(t("file.many"));
    file = files[0] || null;
    if (file && file.size === 0) fileProblem(t("file.empty"));
    describeFile();
    showPending();
  }

  function fileProblem(text) {
    ui.fileError.textContent = text;
    show(ui.fileError, Boolean(text));
    ui.file.classList.toggle("is-invalid", Boolean(text));
  }

  function describeFile() {
    show(ui.fileInfo, Boolean(file));
    let label = ui.start.dataset.label;
    if (file) {
      const parts = [t("file.selected", { name: file.name, size: bytes(file.size) })];
      const saved = token ? new Tus.Upload(file, token.token, {}).saved() : null;
      if (saved && !saved.done && saved.offset > 0) {
        parts.push(t("file.resume", { percent: percent(saved.offset, file.size) }));
        label = t("continue.button");
      }
      ui.fileInfo.textContent = parts.join(" ");
    }
    // Only when it changes: replacing the text under a pressed mouse button (the token
    // field's change event fires on that very mousedown) would swallow the click.
    if (ui.start.textContent !== label) ui.start.textContent = label;
  }

  function dropZone() {
    ["dragenter", "dragover"].forEach(function (name) {
      ui.drop.addEventListener(name, function (event) {
        event.preventDefault();
        if (!ui.file.disabled) ui.drop.classList.add("is-dragover");
      });
    });
    ["dragleave", "dragend", "drop"].forEach(function (name) {
      ui.drop.addEventListener(name, function () { ui.drop.classList.remove("is-dragover"); });
    });
    ui.drop.addEventListener("drop", function (event) {
      event.preventDefault();
      if (ui.file.disabled || !event.dataTransfer) return;
      const files = event.dataTransfer.files;
      if (files.length === 1) ui.file.files = files;
      pick(files);
    });
    // A file dropped next to the zone must not make the browser open it instead.
    ["dragover", "drop"].forEach(function (name) {
      window.addEventListener(name, function (event) { event.preventDefault(); });
    });
  }

  // ---------------------------------------------------------------- upload
  function busy(on) {
    [ui.token, ui.file, ui.start, ui.tokenChange].forEach(function (el) { el.disabled = on; });
    ui.form.classList.toggle("is-busy", on);
    if (on) keepAwake(); else letSleep();
  }

  function start() {
    const typed = ui.tokenField.hidden ? null : ui.token.value.trim();
    if (typed !== null) token = Tus.parseToken(typed);
    if (!token) {
      tokenProblem(typed ? t("token.format") : t("token.missing"));
      ui.token.focus();
      return;
    }
    tokenProblem("");
    if (!file || file.size === 0) {
      fileProblem(file ? t("file.empty") : t("file.missing"));
      ui.file.focus();
      return;
    }
    upload = new Tus.Upload(file, token.token, {
      endpoint: app.dataset.endpoint,
      chunkSize: Number(app.dataset.chunkSize),
      hashLimit: Number(app.dataset.hashLimit),
      onProgress: progress,
      onStatus: status,
    });
    if (!Tus.browserStorage()) announceNotice(t("warn.storage"));
    run();
  }

  function announceNotice(text) {
    ui.fileInfo.textContent = text;
    show(ui.fileInfo, true);
  }

  function run() {
    show(ui.errorPanel, false);
    show(ui.receiptPanel, false);
    show(ui.pending, false);
    show(ui.form, false);
    show(ui.progressPanel, true);
    ui.progressPanel.focus();
    ui.pause.textContent = t("pause.button");
    show(ui.pause, true);
    busy(true);
    samples = [];
    lastAnnounced = -1;
    upload.start().then(done, failed);
  }

  let samples = [];
  let lastAnnounced = -1;

  function progress(event) {
    const now = performance.now();
    if (samples.length && event.sent < samples[samples.length - 1][1]) samples = [];
    samples.push([now, event.sent]);
    while (samples.length > 2 && now - samples[0][0] > 10000) samples.shift();
    const ratio = event.total ? event.sent / event.total : 0;
    ui.fill.style.width = (ratio * 100).toFixed(2) + "%";
    ui.bar.setAttribute("aria-valuenow", String(Math.floor(ratio * 100)));
    ui.sent.textContent = t("progress.sent", {
      sent: bytes(event.sent), total: bytes(event.total), percent: percent(event.sent, event.total),
    });
    const first = samples[0];
    const span = (now - first[0]) / 1000;
    const speed = span >= 1 ? (event.sent - first[1]) / span : 0;
    ui.rate.textContent = speed > 0 && event.sent < event.total
      ? t("progress.rate", { speed: bytes(speed, true), time: duration((event.total - event.sent) / speed) })
      : "";
    const tenth = Math.floor(ratio * 10);
    if (tenth !== lastAnnounced) {
      lastAnnounced = tenth;
      announce(t("announce.progress", { percent: percent(event.sent, event.total) }));
    }
  }

  const BUSY = [423, 429, 500, 502, 503, 504]; // the server answered: not a lost connection

  function status(event) {
    const texts = {
      hashing: t("status.hashing"),
      connecting: t("status.connecting"),
      uploading: t("status.uploading", { name: file.name }),
      retrying: t(BUSY.includes(event.status) ? "status.busy" : "status.retrying", event),
      offline: t("status.offline"),
      verifying: t("status.verifying"),
    };
    const text = texts[event.kind] || "";
    const changed = ui.status.dataset.kind !== event.kind;
    if (event.kind !== "uploading") forgetSpeed();
    ui.status.dataset.kind = event.kind;
    ui.status.textContent = text;
    show(ui.retryNow, event.kind === "retrying" || event.kind === "offline");
    if (changed && event.kind !== "uploading") announce(text);
    if (event.kind === "verifying") show(ui.pause, false);
  }

  /** Speed and time left only while bytes move; measured afresh after a stop. */
  function forgetSpeed() {
    samples = [];
    ui.rate.textContent = "";
  }

  function pauseOrResume() {
    if (upload && upload.running) {
      upload.pause();
    } else if (upload) {
      ui.pause.textContent = t("pause.button");
      run();
    }
  }

  function done(receipt) {
    busy(false);
    show(ui.progressPanel, false);
    const finished = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" });
    $("receipt-file").textContent = receipt.name;
    $("receipt-size").textContent = bytes(receipt.size) + " (" + t("bytes", { count: number(receipt.size) }) + ")";
    $("receipt-sha256").textContent = receipt.sha256;
    $("receipt-ticket").textContent = receipt.ticket;
    $("receipt-finished").textContent = finished.format(receipt.finishedAt);
    $("receipt-check").textContent = receipt.state === "verified" ? t("receipt.verified") : t("receipt.unverified");
    receiptText = [
      "ticket:   " + receipt.ticket,
      "file:     " + receipt.name,
      "size:     " + receipt.size + " bytes",
      "sha256:   " + receipt.sha256,
      "server:   " + receipt.state,
      "upload:   " + receipt.url,
      "finished: " + receipt.finishedAt.toISOString(),
    ].join("\n");
    ui.receiptPanel.dataset.state = receipt.state;
    show(ui.receiptPanel, true);
    ui.receiptPanel.focus();
    announce(t("receipt.title"));
  }

  const ERROR_TEXT = {
    token: "error.token", owner: "error.owner", gone: "error.gone", "not-found": "error.gone",
    "too-large": "error.too_large", "no-space": "error.no_space", network: "error.network",
    corrupt: "error.corrupt", unreadable: "error.unreadable",
  };

  function failed(error) {
    busy(false);
    if (error && error.kind === "paused") {
      forgetSpeed();
      ui.status.dataset.kind = "paused";
      ui.status.textContent = t("status.paused");
      ui.pause.textContent = t("resume.button");
      show(ui.retryNow, false);
      announce(t("status.paused"));
      return;
    }
    const kind = (error && error.kind) || "server";
    show(ui.progressPanel, false);
    show(ui.form, true);
    ui.errorText.textContent = ERROR_TEXT[kind]
      ? t(ERROR_TEXT[kind]) : t("error.server", { status: (error && error.status) || "?" });
    ui.errorDetail.textContent = (error && error.detail) || "";
    show(ui.errorDetail, Boolean(error && error.detail) && !ERROR_TEXT[kind]);
    ui.errorPanel.dataset.kind = kind;
    show(ui.errorRetry, ["network", "server", "no-space"].includes(kind));
    show(ui.errorRestart, kind === "gone" || kind === "not-found");
    show(ui.errorToken, kind === "token" || kind === "owner");
    show(ui.errorPanel, true);
    if (kind === "unreadable") {
      file = null;
      ui.file.value = "";
      describeFile();
    }
  }

  // ---------------------------------------------------------------- the rest
  function keepAwake() {
    if (wakeLock || !navigator.wakeLock) return;
    navigator.wakeLock.request("screen").then(function (lock) { wakeLock = lock; }, function () {});
  }

  function letSleep() {
    if (wakeLock) wakeLock.release().catch(function () {});
    wakeLock = null;
  }

  function copyReceipt() {
    const confirm = function () { announce(t("copied")); ui.copy.textContent = t("copied"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(receiptText).then(confirm, fallbackCopy);
    } else {
      fallbackCopy();
    }
    function fallbackCopy() {
      const area = document.createElement("textarea");
      area.value = receiptText;
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      try { if (document.execCommand("copy")) confirm(); } finally { area.remove(); }
    }
  }

  function uploadAgain() {
    file = null;
    upload = null;
    ui.file.value = "";
    ui.copy.textContent = t("copy.button");
    show(ui.receiptPanel, false);
    show(ui.form, true);
    describeFile();
    ui.file.focus();
  }

  function wire() {
    ui.start.dataset.label = ui.start.textContent;
    ui.form.addEventListener("submit", function (event) { event.preventDefault(); start(); });
    ui.token.addEventListener("input", tokenTyped);
    ui.tokenChange.addEventListener("click", changeToken);
    ui.file.addEventListener("change", function () { pick(ui.file.files); });
    ui.pause.addEventListener("click", pauseOrResume);
    ui.retryNow.addEventListener("click", function () { if (upload) upload.retryNow(); });
    ui.errorRetry.addEventListener("click", run);
    ui.errorRestart.addEventListener("click", function () { upload.forget(); run(); });
    ui.errorToken.addEventListener("click", function () { show(ui.errorPanel, false); changeToken(); });
    ui.copy.addEventListener("click", copyReceipt);
    ui.again.addEventListener("click", uploadAgain);
    window.addEventListener("hashchange", readFragment);
    window.addEventListener("beforeunload", function (event) {
      if (upload && upload.running) { event.preventDefault(); event.returnValue = ""; }
    });
    // Switching language keeps the token: it travels in the fragment, never to the server.
    document.querySelectorAll("[data-lang-link]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (!token) return;
        event.preventDefault();
        location.href = link.href + "#" + encodeURIComponent(token.token);
      });
    });
    dropZone();
  }

  wire();
  show(app, true);
  readFragment();
  showPending();
  if (ui.file.files.length) pick(ui.file.files); // a file kept by the browser on back/forward
})();
