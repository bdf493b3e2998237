/* The alerts page's countdowns to each alert's limits, ticked every second between the server's refreshes
 * (layouts/alerts.py draws them with data-due; the list carries the server's clock, so a laptop whose clock is
 * off still counts right). Does nothing on other pages. */
(function () {
  "use strict";

  const SOON_S = 300;
  let serverSeen = null;
  let offsetS = 0;

  function clockText(seconds) {
    const whole = Math.floor(seconds);
    const hours = Math.floor(whole / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    const secs = whole % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return hours ? `${hours}:${pad(minutes)}:${pad(secs)}` : `${pad(minutes)}:${pad(secs)}`;
  }

  function tick() {
    const clock = document.querySelector("[data-server-now]");
    if (!clock) return;
    const serverNow = parseFloat(clock.dataset.serverNow);
    if (serverNow !== serverSeen) {
      serverSeen = serverNow;
      offsetS = serverNow - Date.now() / 1000;
    }
    const now = Date.now() / 1000 + offsetS;
    document.querySelectorAll(".countdown[data-due]").forEach((el) => {
      const left = parseFloat(el.dataset.due) - now;
      el.textContent = `${left < 0 ? el.dataset.overdue : el.dataset.label} ${clockText(Math.abs(left))}`;
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < SOON_S);
    });
  }

  window.setInterval(tick, 1000);
})();
