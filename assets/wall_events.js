/* The wall's events panel and map layer in the browser (views/wall_events.py sends them with a tick when any
 * event changed; layouts/wall.py builds the panel and the layer, with their texts and category colours in the
 * page's context). Every second the events' next due times are judged again: an event whose clock runs out turns
 * red on the panel and its marker is outlined red, without waiting for the next step of the hub. */
(function () {
  "use strict";

  const el = window.cityeye.dom.el; // assets/dom.js: data reaches the page as text, never as markup
  const LATE_COLOUR = "#ff2d2d";
  const EDGE_COLOUR = "#0a1120";
  const state = { ctx: null, data: null, lateKey: null };

  function serverNow() {
    const wall = window.cityeye.wall && window.cityeye.wall.state;
    return (Date.now() + (wall ? wall.serverOffsetMs : 0)) / 1000;
  }

  // [id, lat, lon, category, due, late] per open event (views/wall_events.map_points).
  function isLate(point, now) {
    return point[5] || (point[4] !== null && point[4] < now);
  }

  function lateIds(now) {
    return state.data.points.filter((p) => isLate(p, now)).map((p) => p[0]);
  }

  function formatDue(due, now) {
    const left = Math.round(due - now);
    const s = Math.abs(left);
    const text = `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
    return left < 0 ? `${state.ctx.events.text.late} ${text}` : `${state.ctx.events.text.due} ${text}`;
  }

  function paintPanel(late, now) {
    const panel = document.querySelector(".events-panel");
    if (!panel) return;
    const data = state.data;
    panel.querySelectorAll(".events-count[data-state]").forEach((node) => {
      node.querySelector(".n").textContent = data.counts[node.dataset.state] || 0;
    });
    // Events beyond the map's cap were judged by the server only.
    const unlisted = Math.max(0, data.late - data.points.filter((p) => p[5]).length);
    panel.querySelector(".events-count.late .n").textContent = late.size + unlisted;
    panel.classList.toggle("has-late", late.size + unlisted > 0);
    const english = state.ctx.lang === "en";
    const items = data.list.map((e) => {
      const red = e.late || (e.due !== null && e.due < now);
      const colour = state.ctx.events.colours[e.category] || EDGE_COLOUR;
      return el("li", { class: `events-item${red ? " late" : ""}`, "data-event-id": e.id, "data-status": e.status }, [
        el("i", { style: { background: colour } }),
        el("span", { class: "events-state" }, state.ctx.events.states[e.status] || e.status),
        el("span", { class: "events-type" }, english ? e.type[1] : e.type[0]),
        el("span", { class: "events-place" }, english ? e.place[1] : e.place[0]),
        e.due !== null ? el("span", { class: "events-due" }, formatDue(e.due, now)) : null,
      ]);
    });
    panel.querySelector(".events-list")
      .replaceChildren(...(items.length ? items : [el("li", { class: "events-none" }, state.ctx.events.text.none)]));
  }

  function layerData(late) {
    return {
      type: "FeatureCollection",
      features: state.data.points.filter((p) => p[1] !== null && p[2] !== null).map((p) => ({
        type: "Feature",
        geometry: { type: "Point", coordinates: [p[2], p[1]] },
        properties: { id: p[0], category: p[3], late: late.has(p[0]) },
      })),
    };
  }

  function paint(force) {
    if (!state.data || !state.ctx) return;
    const now = serverNow();
    const late = new Set(lateIds(now));
    const key = [...late].sort().join(",");
    paintPanel(late, now);
    if (force || key !== state.lateKey) {
      state.lateKey = key;
      window.dash_clientside.set_props(state.ctx.ids.eventsLayer, { data: layerData(late) });
    }
  }

  // Clientside callback on every tick: only a tick that carries the events changes anything.
  function apply(changes, ctx) {
    state.ctx = ctx;
    if (!changes || !changes.events) return window.dash_clientside.no_update;
    state.data = changes.events;
    paint(true);
    return changes.events.audit;
  }

  // dash-leaflet's pointToLayer for the events layer: a dot in its category's colour, outlined red when late.
  function eventPoint(feature, latlng) {
    const props = feature.properties;
    const colour = (state.ctx && state.ctx.events.colours[props.category]) || EDGE_COLOUR;
    const marker = L.circleMarker(latlng, {
      radius: props.late ? 8 : 6,
      fillColor: colour,
      fillOpacity: 0.9,
      color: props.late ? LATE_COLOUR : EDGE_COLOUR,
      weight: props.late ? 3 : 1,
      className: `event-marker${props.late ? " late" : ""}`,
    });
    marker.options.eventId = props.id;
    return marker;
  }

  window.setInterval(() => paint(false), 1000);
  window.dash_clientside = Object.assign({}, window.dash_clientside, { cityeye_wall_events: { apply: apply } });
  window.cityeye = Object.assign({}, window.cityeye, { wallEvents: { eventPoint: eventPoint, state: state } });
})();
