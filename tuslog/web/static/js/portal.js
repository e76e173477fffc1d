/* Staff portal, every page: bar widths from data-fill (no inline styles under the CSP),
   and copy buttons. Plain DOM, no framework. */
"use strict";

(function () {
  function applyFills(root) {
    (root || document).querySelectorAll("[data-fill]").forEach(function (element) {
      var value = Number(element.getAttribute("data-fill"));
      if (isFinite(value)) {
        element.style.width = Math.max(0, Math.min(100, value)) + "%";
      }
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (a LAN address): the old way, through a selection.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "position-absolute top-0 start-0 opacity-0";
      document.body.appendChild(area);
      area.select();
      var done = false;
      try {
        done = document.execCommand("copy");
      } catch (error) {
        done = false;
      }
      document.body.removeChild(area);
      if (done) {
        resolve();
      } else {
        reject(new Error("copy refused"));
      }
    });
  }

  function textOf(target) {
    if (target.tagName === "OL" || target.tagName === "UL") {
      return Array.prototype.map
        .call(target.querySelectorAll("li"), function (item) {
          return item.textContent.trim();
        })
        .join("\n");
    }
    return target.getAttribute("data-secret") || target.textContent.trim();
  }

  function onCopy(event) {
    var button = event.target.closest(".copy-button");
    if (!button) {
      return;
    }
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(textOf(target)).then(
      function () {
        button.textContent = "Copied";
        button.classList.add("is-copied");
        window.setTimeout(function () {
          button.textContent = label;
          button.classList.remove("is-copied");
        }, 2000);
      },
      function () {
        var range = document.createRange();
        range.selectNodeContents(target);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    );
  }

  window.tuslogPortal = { applyFills: applyFills };
  document.addEventListener("DOMContentLoaded", function () {
    applyFills(document);
    document.addEventListener("click", onCopy);
  });
})();
