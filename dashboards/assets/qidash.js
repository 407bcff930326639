// Client-side helpers for qidash pages (no data leaves the browser).
// A query-string value read back as its control holds it (type from the page's sync store).
function qidashCoerce(raw, type, dflt) {
  if (raw === null) { return dflt === undefined ? null : dflt; }
  if (type === "float") { const f = parseFloat(raw); return isNaN(f) ? dflt : f; }
  if (type === "int") { const n = parseInt(raw, 10); return isNaN(n) ? dflt : n; }
  if (type === "bool") { return ["1", "true", "yes", "on"].indexOf(raw.toLowerCase()) >= 0; }
  if (type === "list") { return raw.split(",").filter(function (x) { return x.trim(); }); }
  return raw;
}

// One comparable string per control value ("" for empty, "1" for on, lists comma-joined).
function qidashNorm(v) {
  if (Array.isArray(v)) { v = v.join(","); }
  if (v === null || v === undefined || v === "" || v === false) { return ""; }
  if (v === true) { return "1"; }
  return String(v);
}

window.dash_clientside = Object.assign({}, window.dash_clientside, {
  qidash: {
    // Put a page's controls in the query string. A change of control pushes a history entry
    // (back and forward step through control settings: see the popstate listener below); the
    // keys and their defaults come from the page's "<prefix>-url-sync" store (last argument).
    syncUrl: function () {
      const ctx = window.dash_clientside.callback_context;
      const values = Array.from(arguments);
      const sync = values.pop() || {};
      const prefix = ctx.inputs_list[0].id.split("-")[0];
      const keys = ctx.inputs_list.map(function (i) {
        return i.id.replace(/^[a-z]+-/, "");
      });
      const params = new URLSearchParams(window.location.search);
      const defaults = sync.defaults || {};
      const types = sync.types || {};
      // the URL may leave keys out (their defaults) or come from back/forward: when it
      // already says what the controls show, leave history alone (a push would cut forward)
      const same = keys.every(function (k, i) {
        const fromUrl = params.has(k) ? qidashCoerce(params.get(k), types[k], defaults[k])
                                      : defaults[k];
        return qidashNorm(fromUrl) === qidashNorm(values[i]);
      });
      if (same) { return window.dash_clientside.no_update; }
      keys.forEach(function (k, i) {
        let v = values[i];
        if (Array.isArray(v)) { v = v.join(","); }
        if (v === null || v === undefined || v === "" || v === false) { params.delete(k); }
        else if (v === true) { params.set(k, "1"); }
        else { params.set(k, String(v)); }
      });
      const qs = params.toString();
      const url = window.location.pathname + (qs ? "?" + qs : "");
      window.qidashUrlSync = {prefix: prefix, keys: keys, pathname: window.location.pathname,
                              defaults: defaults, types: types};
      if (url !== window.location.pathname + window.location.search) {
        // Dash's own locations do not hear pushState, so the page is not rebuilt
        window.history.pushState({qidash: prefix}, "", url);
      }
      return window.dash_clientside.no_update;
    },
    // Is the slide-pack route served here? Read the API's OpenAPI document once per tab.
    slidesAvailable: async function (href) {
      const no = [true, "Slide export is not available on this server yet"];
      let known = window.sessionStorage.getItem("qidash-slides");
      if (known === null) {
        try {
          const r = await fetch("/api/openapi.json");
          const doc = r.ok ? await r.json() : {};
          known = doc.paths && doc.paths["/api/v1/exports/pack.pptx"] ? "1" : "0";
        } catch (e) {
          known = "0";
        }
        window.sessionStorage.setItem("qidash-slides", known);
      }
      if (known !== "1") {
        return no;
      }
      // a pack is about one organisation: the comparison page names it by its highlight
      const q = new URLSearchParams((href || "").split("?")[1] || "");
      if (!q.get("org") && !q.get("network") && !q.get("highlight")) {
        return [true, "Highlight an organisation to export its slide pack"];
      }
      return [false, "Download this view as a PowerPoint pack"];
    },
    // The width the page draws a chart at (px): figures that fit their labels to it are
    // redrawn for it (the server lays a chart out for 1,000 px until it knows). Waits for the
    // chart's element to be laid out; the resize listener below sends it again when the window
    // changes the chart's width.
    // Its arguments: the triggers (any number), then the graph's id and the width last sent.
    chartWidth: async function (...args) {
      const [graphId, current] = args.slice(-2);
      const ctx = window.dash_clientside.callback_context;
      const storeId = ctx.outputs_list.id;
      for (let i = 0; i < 40; i++) {
        const el = document.getElementById(graphId);
        const w = el ? Math.round(el.getBoundingClientRect().width) : 0;
        if (w > 0) {
          window.qidashChartWidths = window.qidashChartWidths || {};
          window.qidashChartWidths[storeId] = {graph: graphId, width: w};
          // the same width again (a control shown the chart again) would redraw it for nothing
          return w === current ? window.dash_clientside.no_update : w;
        }
        await new Promise(function (r) { setTimeout(r, 50); });
      }
      return window.dash_clientside.no_update;
    },
  },
});

// A chart whose labels are fitted to its width (chartWidth above) is redrawn when a resized
// window changes that width by more than a little (plotly keeps labels' offsets in pixels).
(function () {
  let timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      const reg = window.qidashChartWidths || {};
      const setProps = window.dash_clientside && window.dash_clientside.set_props;
      Object.keys(reg).forEach(function (storeId) {
        const el = document.getElementById(reg[storeId].graph);
        if (!el || !setProps) {
          delete reg[storeId];  // another page now (a store has no element of its own)
          return;
        }
        const w = Math.round(el.getBoundingClientRect().width);
        if (w > 0 && Math.abs(w - reg[storeId].width) >= 24) {
          reg[storeId].width = w;
          setProps(storeId, {data: w});
        }
      });
    }, 300);
  });
})();

// Back/forward within one page: put the controls back as that URL says (their callbacks then
// redraw the chart) instead of letting Dash rebuild the whole page. Registered before Dash's
// own popstate listeners (this file loads first), so it can keep them from seeing the event.
// Any Dash navigation to another page forgets the page's registration.
(function () {
  window.addEventListener("_dashprivate_pushstate", function () {
    window.qidashUrlSync = null;
  });
  window.addEventListener("popstate", function (event) {
    const reg = window.qidashUrlSync;
    const setProps = window.dash_clientside && window.dash_clientside.set_props;
    if (!reg || !setProps || reg.pathname !== window.location.pathname) {
      window.qidashUrlSync = null;  // another page: Dash renders it from the URL
      return;
    }
    const present = reg.keys.every(function (k) {
      return document.getElementById(reg.prefix + "-" + k) !== null;
    });
    if (!present) { window.qidashUrlSync = null; return; }
    event.stopImmediatePropagation();
    const params = new URLSearchParams(window.location.search);
    reg.keys.forEach(function (k) {
      setProps(reg.prefix + "-" + k,
               {value: qidashCoerce(params.get(k), reg.types[k], reg.defaults[k])});
    });
  });
})();

// plotly.js without holding up the page. The basic bundle (dashboards/assets) is preloaded by
// the page's head (link#qidash-plotly) but is not one of its scripts: it runs once Dash's
// renderer has started and asked the server for the layout, so the ~0.15-0.3 s it takes to run
// overlaps the server building the page instead of coming before the request. dcc.Graph uses
// window.Plotly; should a chart ever be drawn before the bundle has run, dcc.Graph loads the URL
// in window._dashPlotlyJSURL, which stays this same bundle (Dash's renderer would set it to
// plotly.py's full 4.8 MB one).
(function () {
  const link = document.getElementById("qidash-plotly");
  if (!link) { return; }
  const src = link.href;
  Object.defineProperty(window, "_dashPlotlyJSURL", {
    configurable: true,
    get: function () { return src; },
    set: function () {},
  });
  function run() {
    if (window.Plotly) { return; }
    const script = document.createElement("script");
    script.src = src;
    document.head.appendChild(script);
  }
  // the renderer starts on the page's last inline script and asks for the layout when it
  // first renders; a task later, that request is on its way
  document.addEventListener("DOMContentLoaded", function () { setTimeout(run, 0); });
})();
