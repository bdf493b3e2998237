/* 城市之眼 camera layer in the browser (layouts/camera_layer.py builds the component, callbacks/camera_layer.py
 * feeds it). dash-leaflet resolves clusterToLayer, pointToLayer and pointStyle by name through
 * window.cityeye.cameras and calls them with the layer's props as the last argument ("context"), so they read
 * the status bitmaps from context.hideout. A new status only restyles the clusters on screen: the geometry is
 * fetched and indexed once.
 *
 * A cluster's colour is the share of its cameras that are not online. Counting a cluster's leaves with
 * index.getLeaves() for every cluster on screen costs ~150 ms at city zoom; instead the counts of every
 * cluster at every zoom are summed bottom-up through supercluster's parent links, once per status version
 * (~2 ms for 71,591 cameras), and each cluster then reads its own. getLeaves() stays as the fallback should
 * a supercluster without those internals ever be bundled. */
(function () {
  "use strict";

  const STATUS_COLOURS = ["#2ecc71", "#ff3b30", "#ffb020"]; // by code: online, offline, fault
  const UNKNOWN_COLOUR = "#5b6b82"; // no status yet
  // api/geo.CAMERAS_URL: fetched as soon as this script runs, while Dash is still booting; the layer's own
  // fetch of the same URL then takes the preloaded response instead of waiting for the download.
  const CAMERAS_URL = "/geo/cameras.pbf";
  const TEXT = {
    zh: { offline: "离线", fault: "故障", cameras: "台" },
    en: { offline: "offline", fault: "fault", cameras: "cameras" },
  };

  // Costs, for the browser test and the benchmark: time spent in our functions, in getLeaves (cold cache),
  // and per redraw batch (first cluster drawn until the end of that task, Leaflet's own work included).
  const perf = {
    clusterCalls: 0, clusterMs: 0, leafMisses: 0, leafMs: 0, pointCalls: 0, pointMs: 0, treeMs: 0, countMs: 0,
    countRuns: 0, batches: 0, lastBatch: null, indexes: 0, decodes: 0, firstClusterAt: null, firstPaintAt: null,
  };
  let batch = null;

  // The newest hideout applyStatus made. The layer ignores a hideout that arrives while it is still
  // loading its geometry and then draws with the props it mounted with, so drawing prefers this one.
  let latest = null;
  let lastIndex = null; // the index clusters were last drawn from, for verifyCounts()
  let lastMap = null; // the Leaflet map drawn on, for tests and the benchmark
  let decoded = { v: null, off: null, flt: null };
  const indexes = new WeakMap(); // supercluster index -> { fixed: Uint8Array by row, rows: Map(cluster_id -> Int32Array) }

  function bytesOf(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hideoutOf(context) {
    return latest || (context && context.hideout) || {};
  }

  function bitsOf(hideout) {
    const status = hideout.status;
    if (!status) return null;
    if (decoded.v !== status.v) {
      decoded = { v: status.v, off: bytesOf(status.off), flt: bytesOf(status.flt) };
      perf.decodes++;
    }
    return decoded;
  }

  function codeOf(bits, row) {
    const byte = row >> 3, bit = 1 << (row & 7);
    if (bits.off[byte] & bit) return 1;
    if (bits.flt[byte] & bit) return 2;
    return 0;
  }

  // supercluster 8 keeps one flat array per zoom, `stride` numbers per entry: x, y, zoom, id, parent id,
  // point count (a point's id is its index in index.points; a cluster's is its cluster_id). A cluster's
  // children are the entries one zoom deeper whose parent id is its id.
  const OFFSET_ID = 3, OFFSET_PARENT = 4, OFFSET_NUM = 5;

  function hasTrees(index) {
    return !!(index.trees && index.points && index.stride >= 6 && index.options && index.trees[index.options.maxZoom + 1]);
  }

  function indexState(index) {
    let state = indexes.get(index);
    if (state) return state;
    const t0 = performance.now();
    const points = index.points, nPoints = points.length;
    const rowOfPoint = new Int32Array(nPoints), fixedPoint = new Uint8Array(nPoints);
    let nRows = 0;
    for (let p = 0; p < nPoints; p++) {
      const props = points[p].properties;
      rowOfPoint[p] = props.i;
      fixedPoint[p] = props.k === "m" ? 0 : 1;
      nRows = Math.max(nRows, props.i + 1);
    }
    const fixedRow = new Uint8Array(nRows);
    for (let p = 0; p < nPoints; p++) fixedRow[rowOfPoint[p]] = fixedPoint[p];
    state = { fixed: fixedRow, rows: new Map(), tree: null };
    if (hasTrees(index)) {
      // Nodes: points keep their index; a cluster's id is (seed << 5) + level + nPoints, the seed being its
      // first entry in the level (zoom + 1) it was made from, so nPoints + base[level] + seed numbers it
      // without a lookup table; `slot` then packs the clusters that exist after the points. `links` lists
      // (child, parent) slots deepest zoom first, so summing along it completes every child before it is
      // added to its parent (a cluster's children all sit one level deeper than it was made).
      const stride = index.stride, minZoom = index.options.minZoom, maxZoom = index.options.maxZoom;
      const base = new Int32Array(maxZoom + 3);
      let entries = 0;
      for (let z = minZoom; z <= maxZoom + 1; z++) {
        base[z] = entries;
        entries += index.trees[z] ? index.trees[z].data.length / stride : 0;
      }
      const slot = new Int32Array(nPoints + entries).fill(-1);
      for (let q = 0; q < nPoints; q++) slot[q] = q;
      const node = (id, num) => {
        if (num <= 1) return id;
        const k = id - nPoints;
        return nPoints + base[k & 31] + (k >> 5);
      };
      const links = new Int32Array(2 * entries);
      let nLinks = 0, used = nPoints;
      for (let z = maxZoom + 1; z > minZoom; z--) {
        const tree = index.trees[z];
        if (!tree) continue;
        const data = tree.data;
        for (let e = 0; e < data.length; e += stride) {
          const parentId = data[e + OFFSET_PARENT];
          if (parentId === -1) continue;
          const parent = node(parentId, 2);
          if (slot[parent] < 0) slot[parent] = used++;
          links[nLinks++] = slot[node(data[e + OFFSET_ID], data[e + OFFSET_NUM])];
          links[nLinks++] = slot[parent];
        }
      }
      const linkArray = links.slice(0, nLinks);
      const nFixed = new Int32Array(used);
      nFixed.set(fixedPoint);
      for (let k = 0; k < nLinks; k += 2) nFixed[linkArray[k + 1]] += nFixed[linkArray[k]];
      state.tree = {
        node: node, slot: slot, nPoints: nPoints, rowOfPoint: rowOfPoint, links: linkArray, nFixed: nFixed,
        counts: new Int32Array(4 * used), // per slot: offline, fault, fixed offline, fixed fault
        version: null,
      };
    }
    indexes.set(index, state);
    perf.indexes++;
    perf.levels = index.trees.map((t) => (t ? t.data.length / index.stride : 0));
    perf.treeMs += performance.now() - t0;
    return state;
  }

  // Offline and fault counts of every node for one status version, summed bottom-up.
  function countTree(tree, bits) {
    if (tree.version === bits.v) return;
    const t0 = performance.now();
    const { counts, links, rowOfPoint, nFixed, nPoints } = tree;
    counts.fill(0, 4 * nPoints);
    for (let q = 0; q < nPoints; q++) {
      const row = rowOfPoint[q], byte = row >> 3, bit = 1 << (row & 7), at = 4 * q;
      const o = (bits.off[byte] & bit) ? 1 : 0, f = (bits.flt[byte] & bit) ? 1 : 0, fixed = nFixed[q];
      counts[at] = o;
      counts[at + 1] = f;
      counts[at + 2] = o & fixed;
      counts[at + 3] = f & fixed;
    }
    for (let k = 0; k < links.length; k += 2) {
      const c = 4 * links[k], parent = 4 * links[k + 1];
      counts[parent] += counts[c];
      counts[parent + 1] += counts[c + 1];
      counts[parent + 2] += counts[c + 2];
      counts[parent + 3] += counts[c + 3];
    }
    tree.version = bits.v;
    perf.countRuns++;
    perf.countMs += performance.now() - t0;
  }

  // [offline, fault, fixed cameras, fixed offline, fixed fault] of one cluster.
  function clusterCounts(index, clusterId, bits) {
    const state = indexState(index);
    const tree = state.tree;
    if (tree) {
      const d = tree.node(clusterId, 2);
      const at = d >= tree.nPoints && d < tree.slot.length ? tree.slot[d] : -1;
      if (at >= 0) {
        countTree(tree, bits);
        const c = tree.counts;
        return [c[4 * at], c[4 * at + 1], tree.nFixed[at], c[4 * at + 2], c[4 * at + 3]];
      }
    }
    const rows = rowsOf(state, index, clusterId);
    const fixed = state.fixed;
    let off = 0, flt = 0, nFixed = 0, offFixed = 0, fltFixed = 0;
    for (let j = 0; j < rows.length; j++) {
      const row = rows[j], byte = row >> 3, bit = 1 << (row & 7);
      const o = (bits.off[byte] & bit) ? 1 : 0, f = (bits.flt[byte] & bit) ? 1 : 0;
      off += o;
      flt += f;
      if (fixed[row]) { nFixed++; offFixed += o; fltFixed += f; }
    }
    return [off, flt, nFixed, offFixed, fltFixed];
  }

  function rowsOf(state, index, clusterId) {
    let rows = state.rows.get(clusterId);
    if (!rows) {
      const t0 = performance.now();
      const leaves = index.getLeaves(clusterId, Infinity);
      rows = new Int32Array(leaves.length);
      for (let j = 0; j < leaves.length; j++) rows[j] = leaves[j].properties.i;
      state.rows.set(clusterId, rows);
      perf.leafMisses++;
      perf.leafMs += performance.now() - t0;
    }
    return rows;
  }

  function hex(rgb) {
    return "#" + rgb.map((c) => Math.round(c).toString(16).padStart(2, "0")).join("");
  }

  function rgb(colour) {
    return [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  }

  function mix(a, b, t) {
    const x = rgb(a), y = rgb(b);
    return hex(x.map((c, i) => c + (y[i] - c) * t));
  }

  // Same scale as layouts/camera_layer.share_colour.
  function shareColour(share, breaks, colours) {
    const [low, mid, high] = breaks;
    if (share <= low) return colours[0];
    if (share >= high) return colours[2];
    if (share <= mid) return mix(colours[0], colours[1], (share - low) / (mid - low));
    return mix(colours[1], colours[2], (share - mid) / (high - mid));
  }

  function startBatch() {
    if (batch) return;
    batch = { start: performance.now(), clusters: 0, ms: 0 };
    setTimeout(() => {
      perf.lastBatch = { clusters: batch.clusters, ownMs: batch.ms, totalMs: performance.now() - batch.start };
      perf.batches++;
      batch = null;
    }, 0);
  }

  function clusterToLayer(feature, latlng, index, context) {
    const t0 = performance.now();
    startBatch();
    const hideout = hideoutOf(context);
    const text = TEXT[hideout.lang] || TEXT.zh;
    const p = feature.properties;
    const bits = bitsOf(hideout);
    let colour = UNKNOWN_COLOUR;
    let title = `${p.point_count} ${text.cameras}`;
    lastIndex = index;
    lastMap = context && context.map;
    if (bits) {
      const [off, flt, nFixed, offFixed, fltFixed] = clusterCounts(index, p.cluster_id, bits);
      const byFixed = hideout.basis !== "all" && nFixed > 0;
      const share = byFixed ? (offFixed + fltFixed) / nFixed : (off + flt) / p.point_count;
      colour = shareColour(share, hideout.breaks, hideout.colours);
      title += ` · ${text.offline} ${off} · ${text.fault} ${flt}`;
    }
    const size = Math.round(28 + 9 * Math.log10(Math.max(1, p.point_count))); // 37 px for 10, 67 px for 22k
    const el = window.cityeye.dom.el; // assets/dom.js, which loads after this file
    const icon = L.divIcon({
      html: el("div", { style: { background: colour } }, el("span", {}, p.point_count_abbreviated)),
      className: "cityeye-cluster" + (hideout.stale ? " stale" : "") + (bits ? "" : " unknown"),
      iconSize: L.point(size, size),
    });
    const marker = L.marker(latlng, { icon: icon, title: title, keyboard: false });
    const ms = performance.now() - t0;
    perf.clusterCalls++;
    perf.clusterMs += ms;
    batch.clusters++;
    batch.ms += ms;
    if (perf.firstClusterAt === null) {
      perf.firstClusterAt = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => { perf.firstPaintAt = performance.now(); }));
    }
    return marker;
  }

  function pointStyle(feature, context) {
    if (!feature.geometry || feature.geometry.type !== "Point") {
      return { color: "#8aa4c4", weight: 1, opacity: 0.7 }; // spiderfy legs
    }
    const hideout = hideoutOf(context);
    const bits = bitsOf(hideout);
    const mobile = feature.properties.k === "m";
    const fill = bits ? STATUS_COLOURS[codeOf(bits, feature.properties.i)] : UNKNOWN_COLOUR;
    return {
      radius: mobile ? 6 : 8,
      color: mobile ? "#cfe3ff" : "#0b1220",
      weight: 2,
      opacity: 1,
      fillColor: fill,
      fillOpacity: hideout.stale ? 0.45 : 0.95,
    };
  }

  function pointToLayer(feature, latlng, context) {
    const t0 = performance.now();
    const layer = L.circleMarker(latlng, pointStyle(feature, context));
    lastMap = context && context.map;
    perf.pointCalls++;
    perf.pointMs += performance.now() - t0;
    return layer;
  }

  // Clientside callback: a new status (or a change of freshness) becomes the layer's hideout. Anything else
  // returns no_update, so the clusters are redrawn only when something on them changes.
  function applyStatus(status, fresh, hideout) {
    const noUpdate = window.dash_clientside.no_update;
    const current = hideout || {};
    const stale = !!(fresh && fresh.stale);
    const sameStatus = !status || (current.status && current.status.v === status.v);
    if (sameStatus && !!current.stale === stale) return noUpdate;
    latest = Object.assign({}, current, { status: status || current.status || null, stale: stale });
    return latest;
  }

  function resetPerf() {
    Object.assign(perf, {
      clusterCalls: 0, clusterMs: 0, leafMisses: 0, leafMs: 0, pointCalls: 0, pointMs: 0, countMs: 0, countRuns: 0,
      batches: 0, lastBatch: null,
    });
  }

  // Test hook: the bottom-up counts of every cluster at every zoom against getLeaves(); returns mismatches.
  function verifyCounts() {
    const index = lastIndex, bits = bitsOf(latest || {});
    if (!index || !bits) return { checked: 0, mismatches: -1 };
    const state = indexState(index);
    let checked = 0, mismatches = 0;
    for (let z = index.options.minZoom; z <= index.options.maxZoom; z++) {
      for (const c of index.getClusters([-180, -85, 180, 85], z)) {
        if (!c.properties.cluster) continue;
        const fast = clusterCounts(index, c.properties.cluster_id, bits);
        const rows = Int32Array.from(index.getLeaves(c.properties.cluster_id, Infinity), (f) => f.properties.i);
        const slow = [0, 0, 0, 0, 0];
        for (const row of rows) {
          const code = codeOf(bits, row);
          slow[0] += code === 1; slow[1] += code === 2;
          if (state.fixed[row]) { slow[2]++; slow[3] += code === 1; slow[4] += code === 2; }
        }
        checked++;
        if (fast.some((v, k) => v !== slow[k]) || rows.length !== c.properties.point_count) mismatches++;
      }
    }
    return { checked: checked, mismatches: mismatches };
  }

  function preload(url) {
    if (!document.head || document.querySelector(`link[rel="preload"][href="${url}"]`)) return;
    const link = document.createElement("link");
    link.rel = "preload";
    link.as = "fetch";
    link.crossOrigin = "anonymous"; // what fetch(url) uses same-origin, so the layer's fetch matches it
    link.href = url;
    document.head.appendChild(link);
  }
  preload(CAMERAS_URL);

  window.cityeye = Object.assign({}, window.cityeye, {
    preload: preload,
    cameras: {
      clusterToLayer: clusterToLayer,
      pointToLayer: pointToLayer,
      pointStyle: pointStyle,
      shareColour: shareColour,
      perf: perf,
      resetPerf: resetPerf,
      verifyCounts: verifyCounts,
      map: () => lastMap,
    },
  });
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityeye_cameras: { applyStatus: applyStatus },
  });
})();
