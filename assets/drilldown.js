/* City Eye drill-down pages in the browser: the header's search (an index fetched once, matched as you type),
 * copy-link, writing a table's sort back into the URL, ag-grid cell renderers (links, level chips, sparklines)
 * and the district map's style. Python builds the pages (layouts/nav.py, sign.py, district.py, signlist.py);
 * this file only draws and navigates.
 *
 * Navigation inside the app is history.pushState plus Dash's own "_dashprivate_pushstate" event, exactly what
 * dcc.Link does, so the pages router re-renders the view from the URL and back/forward keep working. */
(function () {
  "use strict";

  const el = window.cityeye.dom.el; // assets/dom.js: data reaches the page as text, never as markup
  const SEARCH_LIMIT = 12;

  function navigate(href) {
    window.history.pushState({}, "", href);
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
  }

  function plainClick(event) {
    return !(event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || event.button !== 0);
  }

  // Numbers and ages, as layouts/nav.py formats them -------------------------------------------------------

  function formatNumber(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    const a = Math.abs(v);
    const digits = a >= 1000 ? 0 : a >= 10 ? 1 : 2;
    return v.toLocaleString("zh-CN", { minimumFractionDigits: 0, maximumFractionDigits: digits });
  }

  function formatAge(s, stale, lang) {
    if (s === null || s === undefined) return "—";
    const zh = lang !== "en";
    let text;
    if (s < 60) text = Math.round(s) + (zh ? "秒" : "s");
    else if (s < 3600) text = Math.round(s / 60) + (zh ? "分钟" : "min");
    else if (s < 86400) text = Math.round(s / 3600) + (zh ? "小时" : "h");
    else text = Math.round(s / 86400) + (zh ? "天" : "d");
    return (stale ? (zh ? "陈旧 " : "stale ") : "") + text;
  }

  // Search ------------------------------------------------------------------------------------------------

  const search = { entries: null, modules: {}, districts: {}, loading: null, pending: null };

  function loadIndex(url) {
    if (!search.loading) {
      search.loading = fetch(url, { credentials: "same-origin" })
        .then((r) => r.json())
        .then((doc) => {
          search.modules = doc.modules || {};
          search.districts = doc.districts || {};
          search.entries = doc.signs.map((row) => ({
            id: row[0], zh: row[1], en: row[2], unit: row[3], module: row[4], district: row[5], core: row[6] === 1,
            hay: [row[0], row[1], row[2], row[3]].join(" ").toLowerCase(),
          }));
          return search.entries;
        })
        .catch((error) => { search.loading = null; throw error; });
    }
    return search.loading;
  }

  // The same ranking as signs.drill.search: exact id, name prefix, id prefix, unit, core, city-wide.
  function score(e, query) {
    let s = 0;
    if (e.id.toLowerCase() === query) s += 1000;
    if (e.zh.toLowerCase().startsWith(query) || e.en.toLowerCase().startsWith(query)) s += 100;
    if (e.id.toLowerCase().startsWith(query)) s += 50;
    if (e.unit.toLowerCase() === query) s += 40;
    if (e.core) s += 20;
    if (!e.district) s += 5;
    return s;
  }

  function match(text, limit) {
    const query = (text || "").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
    if (!query || !search.entries) return { hits: [], total: 0 };
    const terms = query.split(" ");
    const hits = search.entries.filter((e) => terms.every((t) => e.hay.includes(t)));
    hits.sort((a, b) => score(b, query) - score(a, query) || a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { hits: hits.slice(0, limit), total: hits.length };
  }

  function span(children, className) {
    return { type: "Span", namespace: "dash_html_components", props: { children: children, className: className } };
  }

  function signHref(id, lang) {
    return "/sign/" + encodeURIComponent(id).replace(/%3A/g, ":") + (lang === "en" ? "?lang=en" : "");
  }

  function resultsFor(text, config) {
    const found = match(text, SEARCH_LIMIT);
    if (!found.hits.length) return text ? [span(config.empty, "search-empty")] : [];
    const en = config.lang === "en";
    const rows = found.hits.map((e) => {
      const module = search.modules[e.module] || [e.module, e.module];
      const place = e.district ? (search.districts[e.district] || [e.district, e.district])[en ? 1 : 0] : "";
      return {
        type: "Link",
        namespace: "dash_core_components",
        props: {
          href: signHref(e.id, config.lang),
          className: "search-hit" + (e.core ? " core" : ""),
          children: [
            span(en ? e.en : e.zh, "hit-name"),
            span(e.unit, "hit-unit"),
            span([en ? module[1] : module[0], place].filter(Boolean).join(" · "), "hit-where"),
            span(e.id, "hit-id"),
          ],
        },
      };
    });
    if (found.total > found.hits.length) {
      const q = encodeURIComponent(text.trim());
      rows.push({
        type: "Link", namespace: "dash_core_components",
        props: { href: "/search?q=" + q + (en ? "&lang=en" : ""), className: "search-more",
          children: (en ? "All " : "全部 ") + found.total + (en ? " matches" : " 项") },
      });
    }
    return rows;
  }

  function searchCallback(value, config) {
    search.pending = value;
    if (search.entries) return resultsFor(value, config);
    // First keystroke: fetch the index (once), then answer for whatever has been typed by then.
    loadIndex(config.url).then(() => {
      window.dash_clientside.set_props("drill-search-results", { children: resultsFor(search.pending, config) });
    });
    return [span("…", "search-empty")];
  }

  function submitSearch(_n, value, config) {
    const q = (value || "").trim();
    if (q) navigate("/search?q=" + encodeURIComponent(q) + (config.lang === "en" ? "&lang=en" : ""));
    return window.dash_clientside.no_update;
  }

  // Address bar ------------------------------------------------------------------------------------------------

  function replaceUrl(href) {
    // A table's sort is part of the view (a copied link sorts the same) but not a step to go back to.
    if (href && href !== window.location.pathname + window.location.search) {
      window.history.replaceState(window.history.state, "", href);
    }
    return window.dash_clientside.no_update;
  }

  function copyLink() {
    return window.location.href;
  }

  // ag-grid cells ------------------------------------------------------------------------------------------------

  function DrillLink(props) {
    const href = props.data && props.data.href;
    const core = props.data && props.data.core;
    return React.createElement(
      "a",
      {
        href: href,
        className: "grid-link" + (core ? " core" : ""),
        onClick: (event) => {
          if (!href || !plainClick(event)) return;
          event.preventDefault();
          navigate(href);
        },
      },
      props.value,
    );
  }

  function LevelChip(props) {
    const level = props.value;
    const names = props.names || (props.colDef && props.colDef.cellRendererParams && props.colDef.cellRendererParams.names) || [];
    if (level === null || level === undefined) return React.createElement("span", { className: "lvl-chip none" }, "—");
    const stale = props.data && props.data.stale;
    return React.createElement("span", { className: "lvl-chip lvl-" + level + (stale ? " stale" : "") }, names[level] || String(level));
  }

  function Spark(props) {
    const values = props.value || [];
    if (values.length < 2) return React.createElement("span", { className: "muted" }, "—");
    const step = 100 / (values.length - 1);
    const lines = [];
    let current = [];
    values.forEach((v, i) => {
      if (v === null || v === undefined) {
        if (current.length) lines.push(current);
        current = [];
      } else {
        current.push((i * step).toFixed(1) + "," + (27 - v * 0.24).toFixed(1));
      }
    });
    if (current.length) lines.push(current);
    const level = props.data && props.data.level;
    return React.createElement(
      "svg",
      { className: "sparkline lvl-" + (level || 0), viewBox: "0 0 100 30", preserveAspectRatio: "none" },
      lines.map((points, i) =>
        points.length === 1
          ? React.createElement("circle", { key: i, cx: points[0].split(",")[0], cy: points[0].split(",")[1], r: 1.5 })
          : React.createElement("polyline", { key: i, points: points.join(" ") }),
      ),
    );
  }

  // The district map ----------------------------------------------------------------------------------------------

  const LEVEL_COLOURS = ["#2bb673", "#2f7bff", "#f2c200", "#ff8a00", "#ff2d2d"];
  // The newest levels: a GeoJSON layer ignores a hideout that arrives while it is still fetching its
  // geometry and then styles with the props it mounted with, so the style prefers this.
  let latestLevels = null;

  function applyLevels(levels, hideout) {
    if (!levels) return window.dash_clientside.no_update;
    latestLevels = levels;
    return Object.assign({}, hideout, { levels: levels });
  }

  function districtStyle(feature, context) {
    const hideout = (context && context.hideout) || {};
    const adcode = feature.properties.adcode;
    const selected = hideout.selected === adcode;
    const level = (latestLevels || hideout.levels || {})[adcode];
    return {
      fillColor: level === undefined ? "#33445e" : LEVEL_COLOURS[level],
      fillOpacity: selected ? 0.45 : 0.18,
      color: selected ? "#ffffff" : "#7fd3ea",
      weight: selected ? 4 : 1,
      dashArray: selected ? null : "4 4",
    };
  }

  function districtFeature(feature, layer, context) {
    const hideout = (context && context.hideout) || {};
    const props = feature.properties;
    layer.bindTooltip(el("span", {}, hideout.lang === "en" ? props.name_en : props.name_zh), {
      permanent: hideout.selected === props.adcode, direction: "center", className: "district-label",
    });
    layer.on("click", () => {
      if (props.adcode === hideout.selected) return;
      const query = hideout.search ? "?" + hideout.search : "";
      navigate("/district/" + props.adcode + query);
    });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityeye_drill: {
      search: searchCallback, submitSearch: submitSearch, replaceUrl: replaceUrl, copyLink: copyLink,
      applyLevels: applyLevels,
    },
  });
  window.dashAgGridFunctions = Object.assign({}, window.dashAgGridFunctions, {
    cityeyeNumber: formatNumber, cityeyeAge: formatAge,
  });
  window.dashAgGridComponentFunctions = Object.assign({}, window.dashAgGridComponentFunctions, {
    DrillLink: DrillLink, LevelChip: LevelChip, Spark: Spark,
  });
  window.cityeye = Object.assign({}, window.cityeye, {
    drill: { districtStyle: districtStyle, districtFeature: districtFeature, navigate: navigate, match: match, loadIndex: loadIndex },
  });
})();
