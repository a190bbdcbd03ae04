// Refresh the live parts of a page in place: every element with data-live="N" is
// replaced by the same element of a fresh copy of the page every N seconds. The pages
// are complete without it (reload shows the same); it only saves the reload.
(function () {
  "use strict";
  const live = document.querySelectorAll("[data-live]");
  live.forEach(function (element, index) {
    const seconds = Math.max(1, Number(element.dataset.live) || 5);
    setInterval(function () {
      if (document.hidden) return;
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (text) {
          if (!text) return;
          const fresh = new DOMParser().parseFromString(text, "text/html");
          const next = fresh.querySelectorAll("[data-live]")[index];
          if (next) element.replaceChildren(...next.childNodes);
        })
        .catch(function () { /* the next tick tries again */ });
    }, seconds * 1000);
  });
})();
