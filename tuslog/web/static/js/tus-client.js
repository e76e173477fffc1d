/*
 * tuslog's browser upload client: tus 1.0.0 (creation, expiration, plus the server's
 * Tuslog-Upload-State, Tuslog-Sha256 and Tuslog-Ticket headers) over XMLHttpRequest,
 * which, unlike fetch(), reports upload progress. No dependencies, no build step; it
 * defines one global, TuslogTus, used by upload-page.js, and needs tus-resume.js first.
 *
 * After a dropped connection, a reload or a browser restart, the same token and the same
 * file find the upload again (tus-resume.js); HEAD tells how much the server has and the
 * upload continues from there. Resuming never uses up the token again.
 */
(function (global) {
  "use strict";

  const Resume = global.TuslogResume;

  const TUS_VERSION = "1.0.0";
  // Answers after which the same request may succeed: network failures (0), timeouts,
  // an offset that moved under us (409: HEAD and go on), locks, rate limits, overload.
  const RETRYABLE = new Set([0, 408, 409, 423, 429, 500, 502, 503, 504]);
  const MAX_FILENAME_BYTES = 255;

  class UploadError extends Error {
    /** kind: token, owner, not-found, gone, too-large, no-space, network, server,
     *  corrupt, unreadable, paused. */
    constructor(kind, status, detail, retryAfterMs) {
      super(kind + (status ? " (" + status + ")" : ""));
      this.kind = kind;
      this.status = status || 0;
      this.detail = detail || "";
      this.retryAfterMs = retryAfterMs == null ? null : retryAfterMs;
    }

    get retryable() {
      return this.kind === "network" || (this.kind === "server" && RETRYABLE.has(this.status));
    }
  }

  function retryAfterMs(response) {
    const value = (response.header("Retry-After") || "").trim();
    if (!value) return null;
    if (/^\d+$/.test(value)) return Math.min(Number(value), 3600) * 1000;
    const at = Date.parse(value);
    return Number.isNaN(at) ? null : Math.max(0, Math.min(at - Date.now(), 3600 * 1000));
  }

  function errorFor(response) {
    const kinds = { 401: "token", 403: "owner", 404: "not-found", 410: "gone", 413: "too-large", 507: "no-space" };
    const kind = response.status === 0 ? "network" : kinds[response.status] || "server";
    return new UploadError(kind, response.status, (response.text || "").trim().slice(0, 300), retryAfterMs(response));
  }

  /** One request. Resolves with {status, header(name), text}; status 0 is a network
   *  failure or a connection on which nothing moved for stallMs. Rejects only when
   *  aborted on purpose (pause). */
  function send(method, url, options) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      let timer = null;
      let stalled = false;
      const arm = function () {
        clearTimeout(timer);
        timer = setTimeout(function () { stalled = true; xhr.abort(); }, options.stallMs);
      };
      const done = function (status) {
        clearTimeout(timer);
        if (options.onRequest) options.onRequest(null);
        resolve({
          status: status,
          header: function (name) { return status ? xhr.getResponseHeader(name) : null; },
          text: status ? xhr.responseText : "",
        });
      };
      xhr.open(method, url, true);
      Object.keys(options.headers || {}).forEach(function (name) {
        xhr.setRequestHeader(name, options.headers[name]);
      });
      xhr.upload.onprogress = function (event) {
        arm();
        if (options.onProgress) options.onProgress(event.loaded);
      };
      xhr.onprogress = arm;
      xhr.onload = function () { done(xhr.status); };
      xhr.onerror = function () { done(0); };
      xhr.onabort = function () {
        if (stalled) return done(0);
        clearTimeout(timer);
        if (options.onRequest) options.onRequest(null);
        reject(new UploadError("paused"));
      };
      if (options.onRequest) options.onRequest(xhr);
      arm();
      xhr.send(options.body == null ? null : options.body);
    });
  }

  function base64Utf8(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    bytes.forEach(function (byte) { binary += String.fromCharCode(byte); });
    return btoa(binary);
  }

  /** The file name as the server accepts it: no control characters, at most 255 bytes
   *  of UTF-8 (shortened in the middle, keeping the extension). */
  function serverFilename(name) {
    let clean = (name || "upload").replace(/[\u0000-\u001f\u007f/\\]/g, "_");
    const encoder = new TextEncoder();
    if (encoder.encode(clean).length <= MAX_FILENAME_BYTES) return clean;
    const suffix = /(\.[A-Za-z0-9]{1,10}){1,2}$/.exec(clean); // ".log", ".tar.gz"
    const ext = suffix && suffix.index > 0 ? suffix[0] : "";
    let stem = Array.from(clean.slice(0, clean.length - ext.length));
    while (stem.length && encoder.encode(stem.join("") + "…" + ext).length > MAX_FILENAME_BYTES) stem.pop();
    return stem.join("") + "…" + ext;
  }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (byte) {
      return byte.toString(16).padStart(2, "0");
    }).join("");
  }

  /** The URL on this page's origin: a Location built by a server that does not know its
   *  public address must not send us elsewhere (and the page's CSP allows only 'self'). */
  function sameOrigin(location, endpoint) {
    const here = new URL(endpoint, global.location.href);
    const url = new URL(location, here);
    return url.origin === here.origin ? url.href : here.origin + url.pathname;
  }

  const DEFAULTS = {
    endpoint: "/files/",
    chunkSize: 16 * 1024 * 1024,
    hashLimit: 128 * 1024 * 1024,
    maxFailures: 10,
    baseDelayMs: 1000,
    maxDelayMs: 60000,
    stallMs: 60000,
    storage: undefined,
    onProgress: function () {},
    onStatus: function () {},
  };

  class Upload {
    constructor(file, token, options) {
      const parsed = Resume.parseToken(token);
      if (!parsed) throw new UploadError("token");
      this.file = file;
      this.options = Object.assign({}, DEFAULTS, options || {});
      this.auth = { Authorization: "Bearer " + parsed.token, "Tus-Resumable": TUS_VERSION };
      const storage = this.options.storage === undefined ? Resume.browserStorage() : this.options.storage;
      this.store = new Resume.ResumeStore(storage, parsed.prefix, file);
      this.url = null;
      this.offset = 0;
      this.sha256 = null;
      this.headers = {};
      this.running = false;
      this._xhr = null;
      this._wake = null;
      this._paused = false;
      this._onOnline = this.retryNow.bind(this);
    }

    /** What the store knows of this file: {url, offset, size, done, …} or null. */
    saved() {
      return this.store.load();
    }

    /** Upload (or resume) until the server has the whole file. Resolves with the
     *  receipt; rejects with an UploadError (kind "paused" after pause()). */
    async start() {
      if (this.running) throw new Error("already running");
      this.running = true;
      this._paused = false;
      this._failures = 0;
      this._lastFailureOffset = -1;
      global.addEventListener("online", this._onOnline);
      try {
        await this._locate();
        await this._transfer();
        return await this._settle();
      } finally {
        this.running = false;
        global.removeEventListener("online", this._onOnline);
      }
    }

    pause() {
      this._paused = true;
      if (this._xhr) this._xhr.abort();
      if (this._wake) this._wake(new UploadError("paused"));
    }

    retryNow() {
      if (this._wake) this._wake(null);
    }

    /** Start over with a new upload (after the old one expired): uses the token again. */
    forget() {
      this.store.remove();
      this.url = null;
      this.offset = 0;
      this.headers = {};
    }

    _status(kind, extra) {
      this.options.onStatus(Object.assign({ kind: kind }, extra || {}));
    }

    _progress(sent) {
      this.options.onProgress({ sent: Math.min(sent, this.file.size), total: this.file.size });
    }

    _request(method, url, headers, body, onProgress) {
      const self = this;
      if (this._paused) return Promise.reject(new UploadError("paused"));
      return send(method, url, {
        headers: Object.assign({}, this.auth, headers),
        body: body,
        onProgress: onProgress,
        stallMs: this.options.stallMs,
        onRequest: function (xhr) { self._xhr = xhr; },
      });
    }

    async _locate() {
      const entry = this.store.load();
      if (entry && !this.url) {
        this.url = entry.url;
        this.sha256 = entry.sha256 || null;
      }
      if (this.url) {
        this._status("connecting");
        try {
          await this._retrying(this._head.bind(this));
          return;
        } catch (error) {
          // One the server does not know, or that is not this token's, is replaced by a
          // new upload. One that expired (410) is the customer's to restart (forget(),
          // then start()): that uses the token again.
          if (!["not-found", "owner"].includes(error.kind)) throw error;
          this.forget();
        }
      }
      await this._hash();
      this._status("connecting");
      await this._retrying(this._create.bind(this));
    }

    async _hash() {
      const subtle = global.crypto && global.crypto.subtle;
      if (this.sha256 || !subtle || this.file.size > this.options.hashLimit) return;
      this._status("hashing");
      let buffer;
      try {
        buffer = await this.file.arrayBuffer();
      } catch (error) {
        throw new UploadError("unreadable", 0, String(error && error.name));
      }
      try {
        this.sha256 = hex(await subtle.digest("SHA-256", buffer));
      } catch (error) {
        this.sha256 = null; // out of memory and the like: the server still hashes
      }
      if (this._paused) throw new UploadError("paused");
    }

    _metadata() {
      const fields = { filename: serverFilename(this.file.name) };
      if (this.file.type) fields.filetype = this.file.type;
      if (this.sha256) fields.sha256 = this.sha256;
      return Object.keys(fields).map(function (key) {
        return key + " " + base64Utf8(fields[key]);
      }).join(",");
    }

    async _create() {
      const response = await this._request("POST", this.options.endpoint, {
        "Upload-Length": String(this.file.size),
        "Upload-Metadata": this._metadata(),
      });
      if (response.status !== 201 || !response.header("Location")) throw errorFor(response);
      this.url = sameOrigin(response.header("Location"), this.options.endpoint);
      this.store.save({
        url: this.url, sha256: this.sha256, name: this.file.name, size: this.file.size,
        offset: 0, created: Date.now(),
      });
      this._read(response);
    }

    async _head() {
      const response = await this._request("HEAD", this.url, {});
      if (response.status !== 200) throw errorFor(response);
      const length = response.header("Upload-Length");
      if (length !== null && Number(length) !== this.file.size) {
        throw new UploadError("not-found", 200, "Upload-Length differs from the file");
      }
      this._read(response);
    }

    async _patch() {
      const start = this.offset;
      const end = Math.min(this.file.size, start + this.options.chunkSize);
      const self = this;
      const response = await this._request("PATCH", this.url, {
        "Upload-Offset": String(start),
        "Content-Type": "application/offset+octet-stream",
      }, this.file.slice(start, end), function (loaded) { self._progress(start + loaded); });
      if (response.status !== 204) throw errorFor(response);
      this._read(response);
    }

    _read(response) {
      const offset = response.header("Upload-Offset");
      if (offset !== null) this.offset = Number(offset);
      ["Tuslog-Upload-State", "Tuslog-Sha256", "Tuslog-Ticket"].forEach(function (name) {
        const value = response.header(name);
        if (value !== null) this.headers[name] = value;
      }, this);
      this.store.save({ offset: this.offset });
      this._progress(this.offset);
    }

    get _state() {
      return this.headers["Tuslog-Upload-State"] || "receiving";
    }

    async _transfer() {
      let stale = false;
      while (this._state === "receiving" && (stale || this.offset < this.file.size)) {
        try {
          if (stale) await this._head();
          stale = false;
          if (this._state !== "receiving" || this.offset >= this.file.size) break;
          this._status("uploading");
          await this._patch();
        } catch (error) {
          if (!(error instanceof UploadError) || !error.retryable) throw error;
          stale = true; // the next step asks the server where it stands
          await this._failed(error);
        }
      }
    }

    /** Retry one request (HEAD, POST) on retryable failures. */
    async _retrying(step) {
      for (;;) {
        try {
          return await step();
        } catch (error) {
          if (!(error instanceof UploadError) || !error.retryable) throw error;
          await this._failed(error);
        }
      }
    }

    /** Count a failure (the count restarts when bytes moved), give up after
     *  maxFailures in a row, else wait: Retry-After if the server said, else 1, 2, 4 … 60 s. */
    async _failed(error) {
      if (error.status === 0) await this._checkReadable();
      if (this.offset > this._lastFailureOffset) this._failures = 0;
      this._lastFailureOffset = this.offset;
      this._failures += 1;
      const max = this.options.maxFailures;
      if (this._failures > max) {
        // Given up: say what kept failing (no connection, or the server's status).
        throw new UploadError(error.status ? "server" : "network", error.status, error.detail);
      }
      if (error.status === 409 && this._failures === 1) return; // just HEAD again
      let delay = error.retryAfterMs;
      if (delay == null) {
        const backoff = this.options.baseDelayMs * Math.pow(2, this._failures - 1);
        delay = Math.min(this.options.maxDelayMs, backoff) * (0.8 + 0.4 * Math.random());
      }
      const attempt = this._failures;
      const self = this;
      await this._wait(delay, function (seconds) {
        self._status("retrying", {
          seconds: seconds, attempt: attempt, max: max, status: error.status,
        });
      });
    }

    async _checkReadable() {
      const at = Math.min(this.offset, Math.max(0, this.file.size - 1));
      try {
        await this.file.slice(at, at + 1).arrayBuffer();
      } catch (error) {
        throw new UploadError("unreadable", 0, String(error && error.name));
      }
    }

    /** Wait delayMs (longer while the device is offline), or until retryNow(); rejects
     *  on pause(). onTick(seconds left) runs a few times a second. */
    _wait(delayMs, onTick) {
      const self = this;
      if (this._paused) return Promise.reject(new UploadError("paused"));
      return new Promise(function (resolve, reject) {
        const until = Date.now() + delayMs;
        let ticker = null;
        const tick = function () {
          if (global.navigator && global.navigator.onLine === false) {
            self._status("offline");
            return; // wait for the "online" event (retryNow) or pause
          }
          const seconds = Math.ceil((until - Date.now()) / 1000);
          if (seconds <= 0) return self._wake(null);
          if (onTick) onTick(seconds);
        };
        self._wake = function (error) {
          clearInterval(ticker);
          self._wake = null;
          if (error) reject(error); else resolve();
        };
        ticker = setInterval(tick, 250);
        tick();
      });
    }

    /** After the last byte: wait while the server says "verifying", then the receipt. */
    async _settle() {
      let pause = 500;
      while (this._state === "verifying" || this._state === "receiving") {
        this._status("verifying");
        await this._wait(pause);
        await this._retrying(this._head.bind(this));
        pause = Math.min(pause * 2, 5000);
      }
      const state = this._state;
      const finished = (this.store.load() || {}).finished || Date.now();
      this.store.save({ done: true, finished: finished });
      if (state === "corrupt") throw new UploadError("corrupt", 0, this.headers["Tuslog-Sha256"] || "");
      return {
        name: this.file.name,
        size: this.file.size,
        sha256: this.headers["Tuslog-Sha256"] || "",
        state: state,
        ticket: this.headers["Tuslog-Ticket"] || "",
        url: this.url,
        finishedAt: new Date(finished),
      };
    }
  }

  global.TuslogTus = {
    Upload: Upload,
    UploadError: UploadError,
    ResumeStore: Resume.ResumeStore,
    parseToken: Resume.parseToken,
    browserStorage: Resume.browserStorage,
    serverFilename: serverFilename,
  };
})(window);
