/* Dashboard: uploads in progress and the storage bar stay live by polling a small JSON
   endpoint (no page reload). Speed and time left come from the change between two
   polls. Polling stops while the tab is hidden, and while nobody has touched the page
   for half the session's idle timeout (so an unattended screen still gets signed out).
   Everything from the server is put in with textContent, never as HTML. */
"use strict";

(function () {
  var section = document.getElementById("active-uploads");
  if (!section || !window.fetch) {
    return;
  }
  var url = section.getAttribute("data-poll-url");
  var every = Number(section.getAttribute("data-poll-seconds")) * 1000 || 2000;
  var idle = (Number(section.getAttribute("data-idle-seconds")) * 1000) / 2 || 900000;
  var status = document.getElementById("live-status");
  var tbody = section.querySelector("tbody");
  var samples = {};
  var lastInput = Date.now();
  var timer = null;
  var paused = false;

  function rate(bytesPerSecond) {
    var units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
    var value = bytesPerSecond;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? Math.round(value) : value.toFixed(1)) + " " + units[unit];
  }

  function duration(seconds) {
    if (!isFinite(seconds) || seconds < 0) {
      return "—";
    }
    if (seconds < 60) {
      return Math.ceil(seconds) + " s";
    }
    if (seconds < 3600) {
      return Math.ceil(seconds / 60) + " min";
    }
    return Math.floor(seconds / 3600) + " h " + Math.ceil((seconds % 3600) / 60) + " min";
  }

  function measure(upload, now) {
    var previous = samples[upload.id];
    var speed = null;
    if (previous && now > previous.at) {
      var instant = ((upload.offset - previous.offset) * 1000) / (now - previous.at);
      speed = previous.speed === null ? instant : previous.speed * 0.5 + instant * 0.5;
    }
    samples[upload.id] = { offset: upload.offset, at: now, speed: speed };
    return speed;
  }

  function cell(label, text, className) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    if (className) {
      td.className = className;
    }
    td.textContent = text;
    return td;
  }

  function progressCell(upload) {
    var td = document.createElement("td");
    td.setAttribute("data-label", "Progress");
    var note = document.createElement("div");
    if (upload.percent !== null) {
      var bar = document.createElement("div");
      bar.className = "progress";
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-label", "Received");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      bar.setAttribute("aria-valuenow", String(upload.percent));
      var fill = document.createElement("div");
      fill.className = "progress-bar";
      fill.style.width = upload.percent + "%";
      bar.appendChild(fill);
      td.appendChild(bar);
      note.className = "small text-body-secondary";
      note.textContent = upload.received + " of " + upload.size + " (" + upload.percent + " %)";
    } else {
      note.className = "small";
      note.textContent = upload.received + " received; size unknown until finished";
    }
    note.setAttribute("data-cell", "received");
    td.appendChild(note);
    return td;
  }

  function row(upload, now) {
    var speed = measure(upload, now);
    var tr = document.createElement("tr");
    tr.setAttribute("data-upload", upload.id);
    var ticket = document.createElement("td");
    ticket.setAttribute("data-label", "Ticket");
    if (upload.ticket_url) {
      var link = document.createElement("a");
      link.href = upload.ticket_url;
      link.textContent = upload.ticket;
      ticket.appendChild(link);
    } else {
      ticket.textContent = "—";
    }
    tr.appendChild(ticket);
    tr.appendChild(cell("File", upload.filename, "text-break"));
    tr.appendChild(progressCell(upload));
    var left = upload.length === null || !speed ? NaN : (upload.length - upload.offset) / speed;
    tr.appendChild(cell("Speed", speed === null ? "—" : speed > 0 ? rate(speed) : "stalled"));
    tr.lastChild.setAttribute("data-cell", "speed");
    tr.appendChild(cell("Time left", duration(left)));
    tr.lastChild.setAttribute("data-cell", "eta");
    var seen = new Date(upload.updated_at);
    tr.appendChild(cell("Last data", seen.toISOString().slice(11, 19) + " UTC", "text-nowrap"));
    return tr;
  }

  function showUploads(uploads) {
    var now = Date.now();
    var rows = uploads.map(function (upload) {
      return row(upload, now);
    });
    tbody.replaceChildren.apply(tbody, rows);
    var empty = uploads.length === 0;
    document.getElementById("active-empty").hidden = !empty;
    document.getElementById("active-table-wrap").hidden = empty;
    var count = document.getElementById("active-count");
    if (count) {
      count.textContent = String(uploads.length);
    }
  }

  function showStorage(storage) {
    var box = document.getElementById("storage");
    if (!box) {
      return;
    }
    box.setAttribute("data-level", storage.level);
    Object.keys(storage.text).forEach(function (key) {
      var target = box.querySelector('[data-storage="' + key + '"]');
      if (target) {
        target.textContent = storage.text[key];
      }
    });
    Object.keys(storage.segments).forEach(function (part) {
      var segment = box.querySelector('[data-part="' + part + '"]');
      if (segment) {
        segment.setAttribute("data-fill", String(storage.segments[part]));
      }
    });
    var summary = document.getElementById("storage-summary");
    summary.textContent = storage.committed_percent + " % used or promised";
    summary.className = "fw-semibold storage-level-" + storage.level;
    window.tuslogPortal.applyFills(box);
  }

  function say(text) {
    if (status.textContent !== text) {
      status.textContent = text;
    }
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, delay);
  }

  function poll() {
    if (document.hidden) {
      return; // visibilitychange starts it again
    }
    if (Date.now() - lastInput > idle) {
      paused = true;
      say("Live updates paused while you are away: move the mouse or press a key.");
      return;
    }
    fetch(url, { credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401) {
          window.location.reload(); // the session ended: the server sends us to sign in
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data) {
          showUploads(data.uploads);
          showStorage(data.storage);
          say("Live: updated " + new Date().toLocaleTimeString());
          schedule(every);
        }
      })
      .catch(function () {
        say("Cannot reach the server; trying again…");
        schedule(every * 3);
      });
  }

  function wake() {
    lastInput = Date.now();
    if (paused) {
      paused = false;
      schedule(0);
    }
  }

  ["pointermove", "keydown", "touchstart", "scroll"].forEach(function (name) {
    window.addEventListener(name, wake, { passive: true });
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      schedule(0);
    }
  });
  schedule(0);
})();
