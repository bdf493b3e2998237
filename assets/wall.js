/* The wall in the browser: merges each tick's changes into the board it holds, paints tiles, map colours,
 * header and alert strip, judges freshness every second, scales the canvas to the screen and runs the kiosk
 * rotation. The server only ever sends what changed (callbacks/wall.py). */
(function () {
  "use strict";

  const el = window.cityeye.dom.el; // assets/dom.js: data reaches the page as text, never as markup
  const LEVEL_COLOURS = ["#1f6f8b", "#2f7bff", "#f2c200", "#ff8a00", "#ff2d2d"];
  const NO_DATA_COLOUR = "#263246";
  const BOARD_LATE_S = 5;
  const SPARK_WINDOW_S = 3600;
  const SPARK_BUCKET_S = 60;
  const ALERT_CARDS = 6;
  // api/geo.DISTRICTS_URL, fetched while Dash is still booting so that the district map's own fetch of it
  // (after the page's layout and the map have rendered) finds it downloaded; assets/camera_layer.js does the
  // same for the cameras and defines preload.
  const DISTRICTS_URL = "/geo/districts.json";
  const MAP_PAGES = /^\/(district\/.*)?$/;
  if (MAP_PAGES.test(window.location.pathname) && window.cityeye && window.cityeye.preload) window.cityeye.preload(DISTRICTS_URL);
  const TEXT = {
    zh: {
      live: "实时", notLive: "非实时", lost: (s) => `与服务器的连接已中断 ${s}，画面数据未更新`,
      stalled: (s) => `数据汇聚已停止 ${s}，数值不再更新`, noWorkers: "采集进程全部离线",
      dropped: (n) => `消息代理近1小时丢弃 ${n} 条消息，数据有缺失`,
      silent: (names) => `数据源中断：${names.join("、")}`, error: (e) => `数据服务异常：${e}`,
      stale: "陈旧", quality: { "warming-up": "预热中", incomplete: "数据不全", "no-data": "无数据" }, overview: "城市总览", cameras: "城市之眼 · 视频监控", alert: "告警",
      signal: (name, level) => `${name.replace("预警信号", "")}${level}预警`, none: "暂无越限指标",
      noAlerts: "暂无告警", raised: "未确认", acknowledged: (by) => `已确认·${by}`, cleared: "已恢复·待确认",
      escalated: (n) => `超时${n}级`, silenced: "静默", response: "响应", handling: "处置", overdue: "超时",
      assigned: (who) => `负责·${who}`, unassigned: "未指派",
    },
    en: {
      live: "LIVE", notLive: "NOT LIVE", lost: (s) => `Connection to the server lost ${s} ago: values are not updating`,
      stalled: (s) => `Data roll-up stopped ${s} ago: values are not updating`, noWorkers: "All feed workers are offline",
      dropped: (n) => `The MQTT broker dropped ${n} messages in the last hour: data is missing`,
      silent: (names) => `Silent feeds: ${names.join(", ")}`, error: (e) => `Data service error: ${e}`,
      stale: "stale", quality: { "warming-up": "warming up", incomplete: "incomplete", "no-data": "no data" }, overview: "City overview", cameras: "City Eye · cameras", alert: "Alert",
      signal: (name, level) => `${name.replace(" warning signal", "")} ${level}`, none: "No sign over its thresholds",
      noAlerts: "No open alerts", raised: "unacknowledged", acknowledged: (by) => `ack · ${by}`,
      cleared: "recovered · unacknowledged", escalated: (n) => `overdue ×${n}`, silenced: "silenced",
      response: "respond", handling: "handle", overdue: "overdue",
      assigned: (who) => `assigned · ${who}`, unassigned: "unassigned",
    },
  };

  const state = {
    ctx: null, text: TEXT.zh, board: {}, spark: {}, seq: 0, serverOffsetMs: 0, lastOkMs: Date.now(),
    boardAt: null, silent: [], workers: null, dropped: null, error: null, mapSign: null, focus: null,
    elements: null, alertKey: "", rotation: null, started: false, alerts: null, alertsSeen: null,
    redIncidents: null,  // ids of the red incidents already seen: the kiosk jumps only to a new one
    simulated: null,  // views/wall.simulated_notice: {text: [zh, en], story} while the simulator runs
  };

  // Formatting -----------------------------------------------------------------------------------

  function formatValue(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    const a = Math.abs(v);
    const digits = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 1 : 2;
    return v.toLocaleString("zh-CN", { minimumFractionDigits: 0, maximumFractionDigits: digits });
  }

  function formatAge(s) {
    const zh = state.ctx.lang !== "en";
    if (s < 60) return Math.max(0, Math.round(s)) + (zh ? "秒" : "s");
    if (s < 3600) return Math.round(s / 60) + (zh ? "分钟" : "m");
    if (s < 86400) return Math.round(s / 3600) + (zh ? "小时" : "h");
    return Math.round(s / 86400) + (zh ? "天" : "d");
  }

  function serverNow() {
    return (Date.now() + state.serverOffsetMs) / 1000;
  }

  function ageOf(id) {
    const entry = state.board[id];
    return entry ? serverNow() - entry[2] : null;
  }

  function isStale(id) {
    const age = ageOf(id);
    return age === null || age > state.ctx.staleAfterCadences * state.ctx.signs[id][2];
  }

  // A board entry's fourth element, when present, is why its value is not to be judged yet (feeds/board.py).
  function qualityOf(id) {
    const entry = state.board[id];
    return entry && entry.length > 3 ? entry[3] : null;
  }

  // Painting -------------------------------------------------------------------------------------

  function indexElements() {
    const bySign = {};
    document.querySelectorAll("[data-sign]").forEach((node) => {
      (bySign[node.dataset.sign] = bySign[node.dataset.sign] || []).push(node);
    });
    state.elements = bySign;
  }

  function sparkPath(points) {
    if (!points || points.length < 2) return "";
    const t0 = serverNow() - SPARK_WINDOW_S;
    let lo = Infinity, hi = -Infinity;
    points.forEach((p) => { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); });
    const span = hi - lo || 1;
    return points.map((p) => {
      const x = Math.max(0, (p[0] - t0) / SPARK_WINDOW_S) * 100;
      const y = 22 - ((p[1] - lo) / span) * 20;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    }).join(" ");
  }

  function paintSpark(tile, id) {
    const holder = tile.querySelector(".spark");
    if (!holder) return;
    const path = sparkPath(state.spark[id]);
    holder.replaceChildren(
      ...(path ? [el("svg:svg", { viewBox: "0 0 100 24", preserveAspectRatio: "none" }, el("svg:polyline", { points: path }))] : []),
    );
  }

  function paintSign(id) {
    const els = state.elements[id];
    const entry = state.board[id];
    if (!els || !entry) return;
    els.forEach((node) => {
      const v = node.querySelector(".v");
      // A rate over no events has no value: its "0" is a placeholder, never shown (signs.keys.Quality.NO_DATA).
      if (v) v.textContent = qualityOf(id) === "no-data" ? "—" : formatValue(entry[0]);
      node.classList.remove("lvl-0", "lvl-1", "lvl-2", "lvl-3", "lvl-4");
      node.classList.add("lvl-" + entry[1]);
      if (node.classList.contains("tile")) paintSpark(node, id);
    });
  }

  function paintAges(ids) {
    (ids || Object.keys(state.elements)).forEach((id) => {
      if (!state.elements[id]) return;
      const age = ageOf(id);
      const quality = qualityOf(id);
      const stale = isStale(id);
      // Warming up or incomplete wears the stale mark too: the value is there, but not to be trusted yet. Stale
      // says more (the data has stopped), so it names the mark when both hold.
      const mark = stale ? state.text.stale : quality ? state.text.quality[quality] || quality : "";
      state.elements[id].forEach((node) => {
        node.classList.toggle("stale", stale || quality !== null);
        node.classList.toggle("unjudged", quality !== null);
        const ageEl = node.querySelector(".age");
        if (ageEl) ageEl.textContent = age === null ? "—" : (mark ? mark + " " : "") + formatAge(age);
      });
    });
  }

  function paintSignals() {
    const holder = document.querySelector(".wall-header .signals");
    if (!holder) return;
    const prefix = state.ctx.warningPrefix;
    const chips = Object.keys(state.board)
      .filter((id) => id.startsWith(prefix) && state.board[id][0] >= 1 && !isStale(id))
      .sort((a, b) => state.board[b][0] - state.board[a][0])
      .map((id) => {
        const level = Math.min(4, Math.round(state.board[id][0]));
        const label = state.text.signal(state.ctx.signs[id][0], state.ctx.levelNames[level]);
        return el("span", { class: `signal lvl-${level}` }, label);
      });
    holder.replaceChildren(...chips);
  }

  function breaches() {
    const out = [];
    Object.keys(state.board).forEach((id) => {
      const entry = state.board[id];
      if (entry[1] > 0) out.push([id, entry]);
    });
    const meta = state.ctx.signs;
    out.sort((a, b) => b[1][1] - a[1][1] || (meta[a[0]][6] ? 1 : 0) - (meta[b[0]][6] ? 1 : 0) || b[1][2] - a[1][2]);
    return out;
  }

  function formatCountdown(seconds) {
    const s = Math.abs(Math.round(seconds));
    const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
    const text = (hms[0] ? hms[0] + ":" : "") + hms.slice(1).map((n) => String(n).padStart(2, "0")).join(":");
    return seconds < 0 ? `${state.text.overdue} ${text}` : text;
  }

  function alertStatusText(alert) {
    if (alert.status === "acknowledged") return state.text.acknowledged(alert.ackBy || "");
    if (alert.status === "cleared") return state.text.cleared;
    return state.text.raised;
  }

  function paintCountdowns() {
    const now = serverNow();
    document.querySelectorAll(".alert-strip .countdown[data-due]").forEach((node) => {
      const left = +node.dataset.due - now;
      node.textContent = `${node.dataset.label} ${formatCountdown(left)}`;
      node.classList.toggle("overdue", left < 0);
    });
  }

  function paintEngineAlerts() {
    const key = state.alertsSeen;
    if (key === state.alertKey) return;
    state.alertKey = key;
    const { counts, list, silences } = state.alerts;
    document.querySelectorAll(".alert-strip .count[data-level]").forEach((node) => {
      node.querySelector(".n").textContent = counts[+node.dataset.level];
    });
    const silenceCount = document.querySelector(".alert-strip .count.silences .n");
    if (silenceCount) silenceCount.textContent = silences || 0;
    // One card per incident (callbacks/wall.wall_incident), in the server's pressing order.
    const english = state.ctx.lang === "en";
    const cards = list.slice(0, ALERT_CARDS).map((i) => {
      const label = i.dueKind === "handling" ? state.text.handling : state.text.response;
      return el("div", {
        class: `alert-card incident-card lvl-${i.level} ${i.status}`, "data-alert-sign": i.sign, "data-incident-id": i.id,
        "data-count": i.count,
      }, [
        el("span", { class: "alert-level" }, state.ctx.levelNames[i.level]),
        el("span", { class: "alert-name" }, english ? i.title[1] : i.title[0]),
        el("span", { class: "alert-status" }, alertStatusText(i)),
        el("span", { class: "assignee" }, i.assignee ? state.text.assigned(i.assignee) : state.text.unassigned),
        i.escalation ? el("span", { class: "escalation" }, state.text.escalated(i.escalation)) : null,
        i.silenced ? el("span", { class: "silenced" }, state.text.silenced) : null,
        el("span", { class: "countdown", "data-due": i.due, "data-label": label }),
      ]);
    });
    document.querySelector(".alert-strip .alerts")
      .replaceChildren(...(cards.length ? cards : [el("div", { class: "no-alerts" }, state.text.noAlerts)]));
    paintCountdowns();
  }

  function paintAlerts() {
    if (state.alerts) {
      paintEngineAlerts();
      return;
    }
    const list = breaches();
    const key = list.map((b) => b[0] + b[1][1]).join(",");
    if (key === state.alertKey) return;
    state.alertKey = key;
    const counts = [0, 0, 0, 0, 0];
    list.forEach((b) => { counts[b[1][1]] += 1; });
    document.querySelectorAll(".alert-strip .count[data-level]").forEach((node) => {
      node.querySelector(".n").textContent = counts[+node.dataset.level];
    });
    const meta = state.ctx.signs;
    const cards = list.slice(0, ALERT_CARDS).map(([id, entry]) => {
      const m = meta[id];
      const place = m[6] ? state.ctx.districts[m[6]].name : "";
      const district = place && !m[0].startsWith(place) ? place + " · " : "";
      return el("div", { class: `alert-card lvl-${entry[1]}`, "data-alert-sign": id }, [
        el("span", { class: "alert-level" }, state.ctx.levelNames[entry[1]]),
        el("span", { class: "alert-name" }, district + m[0]),
        el("span", { class: "alert-value" }, `${formatValue(entry[0])} ${m[1]}`),
      ]);
    });
    document.querySelector(".alert-strip .alerts")
      .replaceChildren(...(cards.length ? cards : [el("div", { class: "no-alerts" }, state.text.none)]));
  }

  function districtHideout() {
    const selected = state.mapSign;
    const levels = {}, values = {}, stale = {};
    if (selected) {
      Object.keys(state.ctx.districts).forEach((adcode) => {
        const id = `${selected}.dist:${adcode}`;
        const entry = state.board[id];
        if (entry && entry.length <= 3) { levels[adcode] = entry[1]; values[adcode] = entry[0]; }
        // A district colour carries its age like a tile: hatched once the value is stale (isStale, one rule).
        if (entry && state.ctx.signs[id] && isStale(id)) stale[adcode] = true;
      });
    }
    return { levels: levels, values: values, stale: stale, selected: selected, focus: state.focus };
  }

  function paintDistrictLegend(hideout) {
    const name = document.querySelector(".map-sign-name");
    const list = document.querySelector(".district-values");
    if (!name || !list || !hideout.selected) return;
    const meta = state.ctx.signs[hideout.selected];
    name.textContent = `${meta[0]} (${meta[1]})`;
    const rows = Object.keys(state.ctx.districts)
      .map((adcode) => [adcode, hideout.values[adcode], hideout.levels[adcode]])
      .sort((a, b) => (b[1] ?? -Infinity) - (a[1] ?? -Infinity));
    list.replaceChildren(...rows.map(([adcode, value, level]) => el("li", { class: `lvl-${level ?? "none"}${hideout.stale[adcode] ? " stale" : ""}` }, [
      el("i", { style: { background: level === undefined ? NO_DATA_COLOUR : LEVEL_COLOURS[level] } }),
      el("span", {}, state.ctx.districts[adcode].name),
      el("b", {}, formatValue(value)),
    ])));
  }

  // Freshness ------------------------------------------------------------------------------------

  function freshnessProblems() {
    const problems = [];
    const sinceOk = (Date.now() - state.lastOkMs) / 1000;
    if (sinceOk > Math.max(5, (3 * state.ctx.pollMs) / 1000)) problems.push(state.text.lost(formatAge(sinceOk)));
    if (state.error) problems.push(state.text.error(state.error));
    if (state.boardAt !== null && serverNow() - state.boardAt > BOARD_LATE_S) {
      problems.push(state.text.stalled(formatAge(serverNow() - state.boardAt)));
    }
    if (state.boardAt === null && sinceOk < 5) problems.push(state.text.stalled("—"));
    if (state.workers === 0) problems.push(state.text.noWorkers);
    if (state.dropped) problems.push(state.text.dropped(state.dropped));
    if (state.silent.length) problems.push(state.text.silent(state.silent.map((f) => state.ctx.feedNames[f] || f)));
    return problems;
  }

  function simulatedText() {
    return state.simulated ? state.simulated.text[state.ctx.lang === "en" ? 1 : 0] : null;
  }

  function paintFreshness() {
    const problems = freshnessProblems();
    const canvas = document.getElementById("wall-canvas");
    const banner = document.getElementById("wall-banner");
    const live = problems.length === 0;
    const simulated = simulatedText();  // simulated data is said on the banner whatever else it says
    canvas.classList.toggle("not-live", !live);
    banner.classList.toggle("hidden", live && !simulated);
    banner.classList.toggle("notice", live && !!simulated);
    banner.textContent = [simulated, ...problems].filter(Boolean).join("  ·  ");
    const liveText = document.querySelector(".live-text");
    liveText.textContent = live ? state.text.live : state.text.notLive;
    document.querySelector(".live").classList.toggle("down", !live);
  }

  function paintClock() {
    const clock = document.getElementById("wall-clock");
    if (!clock) return;
    const story = state.simulated && state.simulated.story;
    clock.classList.toggle("simulated", !!story);
    if (story) {
      clock.textContent = simulatedText();
      return;
    }
    const now = new Date(serverNow() * 1000);
    clock.textContent = now.toLocaleString(state.ctx.lang === "en" ? "en-GB" : "zh-CN", {
      timeZone: "Asia/Shanghai", hour12: false, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }

  // Canvas scaling: CSS zoom re-lays out at the screen's pixel density, so text stays sharp at any scale.

  function fitCanvas() {
    const canvas = document.getElementById("wall-canvas");
    if (!canvas || !state.ctx) return;
    const [w, h] = state.ctx.canvas;
    canvas.style.zoom = Math.min(window.innerWidth / w, window.innerHeight / h);
  }

  // Kiosk rotation -------------------------------------------------------------------------------

  function rotationViews() {
    const views = [{ kind: "overview" }];
    Object.keys(state.ctx.categories).forEach((code) => views.push({ kind: "category", code: code }));
    Object.keys(state.ctx.districts).forEach((adcode) => views.push({ kind: "district", adcode: adcode }));
    views.push({ kind: "cameras" });
    views.push({ kind: "events" });  // the event hub's open events on the map and the panel (assets/wall_events.js)
    return views;
  }

  function dwellOf(view) {
    const d = state.ctx.dwell;
    return ({ overview: d.overview, category: d.category, district: d.district, cameras: d.cameras, events: d.events, alert: d.alert })[view.kind];
  }

  function showView(view) {
    const ctx = state.ctx;
    const canvas = document.getElementById("wall-canvas");
    canvas.dataset.view = view.kind === "category" ? "category-" + view.code : view.kind;
    document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("focus", view.kind === "category" && p.dataset.category === view.code));
    let bounds = ctx.cityBounds, title = state.text.overview, mapSign = ctx.mapSignForView.overview;
    state.focus = null;
    if (view.kind === "category") { title = ctx.categories[view.code]; mapSign = ctx.mapSignForView[view.code]; }
    if (view.kind === "district") {
      bounds = ctx.districts[view.adcode].bounds; title = ctx.districts[view.adcode].name; state.focus = view.adcode;
      mapSign = view.mapSign || state.mapSign || mapSign;
    }
    if (view.kind === "cameras") { title = state.text.cameras; mapSign = ctx.mapSignForView.cameras; }
    if (view.kind === "events") { title = ctx.events.text.view; mapSign = ctx.mapSignForView.events; }
    if (view.alertSign) title = `${state.text.alert} · ${title}`;
    document.querySelectorAll(".tile.flash").forEach((t) => t.classList.remove("flash"));
    document.querySelectorAll(".tile.flash-module").forEach((t) => t.classList.remove("flash-module"));
    if (view.alertSign && state.elements[view.alertSign]) {
      state.elements[view.alertSign].forEach((node) => node.classList.add("flash"));
    } else if (view.module) {
      // A station-level sign has no tile of its own: its module's tiles stand for it.
      Object.keys(state.elements).forEach((id) => {
        const m = ctx.signs[id];
        if (m && m[4] === view.module) state.elements[id].forEach((node) => node.classList.add("flash-module"));
      });
    }
    document.getElementById("wall-view-title").textContent = title;
    window.dash_clientside.set_props(ctx.ids.map, { viewport: { bounds: bounds, transition: "flyToBounds" } });
    window.dash_clientside.set_props(ctx.ids.mapSign, { value: mapSign });
  }

  function jumpToIncident(incident) {
    // The incident's district (a station's sign has none of its own, its incident does), its worst sign's module.
    const signId = incident.sign;
    const meta = state.ctx.signs[signId];
    if (!meta) return;
    const core = `XY.${meta[3]}.${meta[4]}.${meta[5]}`;
    const adcode = state.ctx.districts[incident.district] ? incident.district : meta[6];
    // A citywide core has no district rows: the map keeps the sign it shows.
    const mapSign = state.ctx.mapSigns.includes(core) ? core : null;
    const view = adcode
      ? { kind: "district", adcode: adcode, mapSign: mapSign, alertSign: signId, module: meta[4] }
      : { kind: "category", code: meta[3], alertSign: signId, module: meta[4] };
    state.rotation.jump = { view: view, until: Date.now() + state.ctx.dwell.alert * 1000 };
    showView(view);
  }

  function newRedIncident(list) {
    // Red and not silenced; the incidents on screen when the wall starts are not news.
    const reds = list.filter((i) => i.level === 4 && !i.silenced && i.status !== "cleared");
    const first = state.redIncidents === null;
    const seen = state.redIncidents || new Set();
    const fresh = first ? [] : reds.filter((i) => !seen.has(i.id));
    state.redIncidents = new Set([...seen, ...reds.map((i) => i.id)]);
    return fresh.length ? fresh[0] : null;
  }

  function rotate() {
    const r = state.rotation;
    if (!r) return;
    if (r.jump) {
      if (Date.now() < r.jump.until) return;
      r.jump = null;
      r.index = (r.index + 1) % r.views.length;
      r.started = Date.now();
      showView(r.views[r.index]);
      return;
    }
    if (Date.now() - r.started >= dwellOf(r.views[r.index]) * 1000) {
      r.index = (r.index + 1) % r.views.length;
      r.started = Date.now();
      showView(r.views[r.index]);
    }
  }

  // Lifecycle ------------------------------------------------------------------------------------

  function everySecond() {
    paintClock();
    paintAges();
    paintSignals();
    paintFreshness();
    paintCountdowns();
    rotate();
  }

  function start(ctx) {
    state.ctx = ctx;
    state.text = TEXT[ctx.lang] || TEXT.zh;
    state.lastOkMs = Date.now();
    indexElements();
    fitCanvas();
    window.addEventListener("resize", fitCanvas);
    if (ctx.kiosk) {
      state.rotation = { views: rotationViews(), index: 0, started: Date.now(), jump: null };
      showView(state.rotation.views[0]);
    }
    window.setInterval(everySecond, 1000);
    state.started = true;
  }

  function appendSpark(id, entry) {
    const series = (state.spark[id] = state.spark[id] || []);
    const bucket = Math.floor(entry[2] / SPARK_BUCKET_S) * SPARK_BUCKET_S;
    const last = series[series.length - 1];
    if (last && last[0] === bucket) last[1] = entry[0];
    else if (!last || last[0] < bucket) series.push([bucket, entry[0]]);
    const oldest = serverNow() - SPARK_WINDOW_S;
    while (series.length && series[0][0] < oldest) series.shift();
  }

  function mergeChanges(changes) {
    if (changes.full) {
      state.board = {};
      state.spark = changes.spark || {};
    }
    Object.keys(changes.signs).forEach((id) => {
      const entry = changes.signs[id];
      state.board[id] = entry;
      if (!changes.full && state.spark[id] !== undefined) appendSpark(id, entry);
    });
    if (!changes.unchanged) {
      state.boardAt = changes.at;
      state.silent = changes.silent || [];
      state.workers = changes.workers;
      state.dropped = changes.dropped;
    }
  }

  function apply(changes, mapSign, ctx) {
    const noUpdate = window.dash_clientside.no_update;
    if (!state.started) start(ctx);
    const mapSignChanged = mapSign !== state.mapSign;
    state.mapSign = mapSign;
    let jumpTo = null;
    const triggered = (window.dash_clientside.callback_context.triggered || []).map((t) => t.prop_id);
    if (changes && triggered.some((p) => p.startsWith("wall-changes"))) {
      if (changes.error) {
        state.error = changes.error;
        return [noUpdate, noUpdate, noUpdate];
      }
      state.error = null;
      state.lastOkMs = Date.now();
      state.serverOffsetMs = changes.now * 1000 - Date.now();
      state.simulated = changes.simulated || null;
      mergeChanges(changes);
      if (changes.alerts) {
        state.alerts = changes.alerts;
        state.alertsSeen = changes.alerts.audit;
        jumpTo = newRedIncident(changes.alerts.list);
      } else if (state.redIncidents === null) {
        state.redIncidents = new Set();  // no alert had ever been raised when the wall started: the first red is news
      }
      const painted = changes.full ? Object.keys(state.elements) : Object.keys(changes.signs);
      painted.forEach(paintSign);
      paintAges(painted);  // a value that just arrived must not wear the stale mark until the next clock tick
      paintAlerts();
      state.seq = changes.seq;
    }
    if (jumpTo && state.rotation) jumpToIncident(jumpTo);
    const hideout = districtHideout();
    paintDistrictLegend(hideout);
    const changed = mapSignChanged || jumpTo !== null || JSON.stringify(hideout) !== state.lastHideout;
    state.lastHideout = JSON.stringify(hideout);
    return [state.seq, state.alertsSeen, changed ? hideout : noUpdate];
  }

  // Leaflet style hooks (dash-leaflet resolves these by name through window.cityeye.wall) -------------

  // SVG patterns the district shapes fill with when stale: the level colour (or no-data grey) under dark stripes,
  // as a stale tile is hatched. Leaflet sets fillColor as the path's fill attribute, so url(#id) reaches them.
  function staleFill(level) {
    const id = `district-stale-${level === undefined ? "none" : level}`;
    if (!document.getElementById(id)) {
      let holder = document.getElementById("district-stale-patterns");
      if (!holder) {
        holder = el("svg:svg", { id: "district-stale-patterns", width: "0", height: "0", style: { position: "absolute" } }, el("svg:defs", {}));
        document.body.appendChild(holder);
      }
      holder.firstChild.appendChild(el("svg:pattern", { id: id, width: "10", height: "10", patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, [
        el("svg:rect", { width: "10", height: "10", fill: level === undefined ? NO_DATA_COLOUR : LEVEL_COLOURS[level] }),
        el("svg:rect", { width: "4", height: "10", fill: "#0a1120" }),
      ]));
    }
    return `url(#${id})`;
  }

  function districtStyle(feature, context) {
    const hideout = context.hideout || {};
    const level = (hideout.levels || {})[feature.properties.adcode];
    const focused = hideout.focus === feature.properties.adcode;
    const stale = (hideout.stale || {})[feature.properties.adcode] === true;
    const colour = level === undefined ? NO_DATA_COLOUR : LEVEL_COLOURS[level];
    return {
      fillColor: stale ? staleFill(level) : colour,
      dashArray: stale ? "6 4" : null,
      fillOpacity: level ? 0.55 : 0.35,
      color: focused ? "#ffffff" : "#7fd3ea",
      weight: focused ? 4 : 1.5,
    };
  }

  function districtLabel(feature, layer) {
    layer.bindTooltip(el("span", {}, state.ctx && state.ctx.lang === "en" ? feature.properties.name_en : feature.properties.name_zh), {
      permanent: true, direction: "center", className: "district-label",
    });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, { cityeye_wall: { apply: apply } });
  window.cityeye = Object.assign({}, window.cityeye, {
    wall: { districtStyle: districtStyle, districtLabel: districtLabel, state: state },
  });
})();
