/* The streamed search page: "Stop" ends the page's loading (the server sees the
   connection close and stops searching) and keeps the matches found so far. Loaded
   without defer, in the middle of the page, so it works while the page still streams.
   Without script, "Stop" is a plain link away from the page: it stops the search too. */
"use strict";

(function () {
  document.addEventListener("click", function (event) {
    var stop = event.target.closest("#stop-search");
    if (!stop) {
      return;
    }
    event.preventDefault();
    window.stop();
    var box = document.getElementById("searching");
    var text = document.getElementById("searching-text");
    if (box && text) {
      box.classList.remove("alert-info");
      box.classList.add("alert-warning", "is-stopped");
      text.textContent = "Stopped. The matches found until then are below.";
      stop.remove();
    }
  });
})();
