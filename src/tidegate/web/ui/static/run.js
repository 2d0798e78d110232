// The run page's live log: lines arrive over server-sent events from the page's own
// stream (the same session as the page) and are appended as the server rendered them
// (escaped there). "Follow" keeps the newest line in view. Reading works without this.
(function () {
  "use strict";

  function start() {
    var box = document.getElementById("log-lines");
    if (!box || !box.dataset.stream || !window.EventSource) {
      return;
    }
    var follow = document.getElementById("log-follow");
    var label = follow ? follow.closest("label") : null;
    if (label) {
      label.hidden = false;
    }
    var count = document.getElementById("log-count");

    function following() {
      return !follow || follow.checked;
    }

    function toEnd() {
      box.scrollTop = box.scrollHeight;
    }

    // Scrolling up to read stops following; scrolling back to the end resumes it.
    box.addEventListener("scroll", function () {
      if (!follow) {
        return;
      }
      var atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
      if (follow.checked !== atEnd && document.activeElement !== follow) {
        follow.checked = atEnd;
      }
    });
    if (follow) {
      follow.addEventListener("change", function () {
        if (follow.checked) {
          toEnd();
        }
      });
    }
    if (following()) {
      toEnd();
    }

    var source = new EventSource(box.dataset.stream);
    source.addEventListener("lines", function (event) {
      var batch = JSON.parse(event.data);
      var template = document.createElement("template");
      template.innerHTML = batch.html;
      box.appendChild(template.content);
      var numbers = box.querySelectorAll(".ln .no");
      if (count && numbers.length) {
        var last = numbers[numbers.length - 1].textContent;
        count.textContent = "Lines " + numbers[0].textContent + "–" + last + " of " + last;
      }
      if (following()) {
        toEnd();
      }
    });
    source.addEventListener("end", function () {
      source.close();
      if (label) {
        label.hidden = true;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
