/* From the wall to the drill-down: a click on a sign's tile or alert card opens that sign's page, unless the
 * wall is a kiosk (#wall-canvas.kiosk), where nothing is clickable. A full page load, not an in-app one: the
 * wall's script (assets/wall.js) owns its page and keeps timers that belong to it alone. The wall's language
 * carries over (?lang=en). Ctrl/Cmd/middle click opens the sign in a new tab. */
(function () {
  "use strict";

  function signHref(id) {
    const lang = new URLSearchParams(window.location.search).get("lang") === "en" ? "?lang=en" : "";
    return "/sign/" + encodeURIComponent(id).replace(/%3A/g, ":") + lang;
  }

  function target(event) {
    const canvas = document.getElementById("wall-canvas");
    if (!canvas || canvas.classList.contains("kiosk")) return null;
    const el = event.target.closest ? event.target.closest(".tile[data-sign], [data-alert-sign]") : null;
    if (!el || !canvas.contains(el)) return null;
    return el.getAttribute("data-alert-sign") || el.getAttribute("data-sign");
  }

  function open(event, newTab) {
    const id = target(event);
    if (!id) return;
    event.preventDefault();
    if (newTab) window.open(signHref(id), "_blank", "noopener");
    else window.location.assign(signHref(id));
  }

  document.addEventListener("click", (event) => {
    if (event.button !== 0) return;
    open(event, event.ctrlKey || event.metaKey || event.shiftKey);
  });
  document.addEventListener("auxclick", (event) => {
    if (event.button === 1) open(event, true);
  });
})();
