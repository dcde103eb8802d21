/* KPI page: PNG export of the map, drawn by plotly.js in the browser (no server renderer). */
(function () {
  "use strict";
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    kpi: {
      downloadPng: function (n, figure) {
        if (!n) return window.dash_clientside.no_update;
        var gd = document.querySelector("#kpi-map .js-plotly-plot");
        if (!gd || !window.Plotly) return window.dash_clientside.no_update;
        var meta = (figure && figure.layout && figure.layout.meta) || {};
        var name = ["kpi", meta.kpi || "map", meta.province || "vn", meta.window || ""]
          .filter(Boolean).join("-");
        window.Plotly.downloadImage(gd, {
          format: "png",
          filename: name,
          width: gd.offsetWidth || 1000,
          height: gd.offsetHeight || 700,
        });
        return {n: n, file: name + ".png"};
      },
    },
  });
})();
