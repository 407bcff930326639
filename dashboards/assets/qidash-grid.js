// dash-ag-grid on demand. Its main bundle (1.3 MB: ag-grid itself) is not a script of every
// page (dashboards/app.py marks it "dynamic"): this small stand-in takes the place of
// window.dash_ag_grid, and the first grid rendered loads the real bundle (its URL, with Dash's
// fingerprint, is in the page's "qidash-ag-grid" meta tag), then renders the real AgGrid with
// the same props. The stand-in stays the component Dash renders, so a grid is never remounted
// when the real bundle arrives (its sort, scroll and selection survive).
(function () {
  if (window.dash_ag_grid || !window.React) { return; }  // the real bundle is already here
  const meta = document.querySelector('meta[name="qidash-ag-grid"]');
  if (!meta) { return; }
  const React = window.React;
  const stub = {};
  let real = null;
  let loading = null;

  function load() {
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = meta.content;
        script.onload = function () {
          real = window.dash_ag_grid;
          // keep the stand-in as what Dash resolves: a new component type would remount
          window.dash_ag_grid = stub;
          if (real && real.AgGrid) { resolve(real); } else { reject(new Error("no AgGrid")); }
        };
        script.onerror = function () { reject(new Error("could not load " + meta.content)); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function failed() {
    return React.createElement("p", {className: "text-danger", role: "alert"},
                               "The table could not be loaded: reload the page to try again.");
  }

  const Lazy = React.lazy(function () {
    return load().then(function (lib) { return {default: lib.AgGrid}; },
                       function () { return {default: failed}; });
  });

  function AgGrid(props) {
    return React.createElement(React.Suspense, {fallback: null},
                               React.createElement(Lazy, props));
  }
  // what the real component tells Dash's renderer (persistence defaults, render type)
  AgGrid.dashRenderType = true;
  AgGrid.dashPersistence = {persisted_props: ["selectedRows"], persistence_type: "local"};

  stub.AgGrid = AgGrid;
  stub.load = load;
  stub.getApi = function (id) { return real ? real.getApi(id) : undefined; };
  stub.getApiAsync = function (id) {
    return load().then(function (lib) { return lib.getApiAsync(id); });
  };
  window.dash_ag_grid = stub;
})();
