/*
 * Where tuslog's browser uploads are remembered, so that they can be resumed after a
 * reload or a browser restart: localStorage, under
 * "tuslog.upload.v1:<token prefix>:<file name, size, modification time>", holding the
 * upload's URL and progress. Never the token: its prefix (tlu_xxxxxxxx) is public, the
 * rest is not. Defines one global, TuslogResume, used by tus-client.js.
 */
(function (global) {
  "use strict";

  const STORE_PREFIX = "tuslog.upload.v1:";
  const STORE_MAX_AGE_MS = 30 * 24 * 3600 * 1000;
  const TOKEN_RE = /^(tlu_[a-z2-7]{8})_[A-Za-z0-9_-]{20,200}$/;

  function parseToken(value) {
    const match = TOKEN_RE.exec((value || "").trim());
    return match ? { token: match[0], prefix: match[1] } : null;
  }

  function fingerprint(file) {
    return [encodeURIComponent(file.name), file.size, file.lastModified].join(":");
  }

  /** localStorage, if this browser lets us use it (private modes and policies may not). */
  function browserStorage() {
    try {
      const storage = global.localStorage;
      const probe = STORE_PREFIX + "probe";
      storage.setItem(probe, "1");
      storage.removeItem(probe);
      return storage;
    } catch (error) {
      return null;
    }
  }

  class ResumeStore {
    constructor(storage, prefix, file) {
      this.storage = storage;
      this.key = STORE_PREFIX + prefix + ":" + fingerprint(file);
    }

    load() {
      if (!this.storage) return null;
      try {
        const entry = JSON.parse(this.storage.getItem(this.key) || "null");
        return entry && typeof entry.url === "string" ? entry : null;
      } catch (error) {
        return null;
      }
    }

    save(changes) {
      if (!this.storage) return;
      const entry = Object.assign(this.load() || {}, changes, { updated: Date.now() });
      try {
        this.storage.setItem(this.key, JSON.stringify(entry));
      } catch (error) {
        /* full or forbidden: resuming after a reload will not work, the upload does */
      }
    }

    remove() {
      if (this.storage) this.storage.removeItem(this.key);
    }

    /** Unfinished uploads of this token prefix (of any, without one), newest first;
     *  drops entries untouched for a month. */
    static pending(storage, prefix) {
      if (!storage) return [];
      const found = [];
      for (let index = storage.length - 1; index >= 0; index -= 1) {
        const key = storage.key(index);
        if (!key || !key.startsWith(STORE_PREFIX)) continue;
        let entry = null;
        try {
          entry = JSON.parse(storage.getItem(key));
        } catch (error) { /* not ours or damaged: dropped below */ }
        if (!entry || !(Date.now() - (entry.updated || 0) < STORE_MAX_AGE_MS)) {
          storage.removeItem(key);
        } else if ((!prefix || key.startsWith(STORE_PREFIX + prefix + ":")) && !entry.done) {
          found.push(entry);
        }
      }
      return found.sort(function (a, b) { return b.updated - a.updated; });
    }
  }

  global.TuslogResume = {
    parseToken: parseToken,
    browserStorage: browserStorage,
    ResumeStore: ResumeStore,
  };
})(window);
