// Client-side helpers for qidash pages (no data leaves the browser).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  qidash: {
    // Rewrite the query string from a page's controls; the keys come from the page's
    // url-sync store id: "<prefix>-url-sync" holds {keys: [...]} in the same order as inputs.
    syncUrl: function () {
      const ctx = window.dash_clientside.callback_context;
      const values = Array.from(arguments);
      const keys = ctx.inputs_list.map(function (i) {
        return i.id.replace(/^[a-z]+-/, "");
      });
      const params = new URLSearchParams(window.location.search);
      keys.forEach(function (k, i) {
        let v = values[i];
        if (Array.isArray(v)) { v = v.join(","); }
        if (v === null || v === undefined || v === "" || v === false) { params.delete(k); }
        else if (v === true) { params.set(k, "1"); }
        else { params.set(k, String(v)); }
      });
      const qs = params.toString();
      const url = window.location.pathname + (qs ? "?" + qs : "");
      window.history.replaceState(window.history.state, "", url);
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
  },
});
