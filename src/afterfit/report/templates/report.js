// Unpack the inlined plotly.js (gzip + base64: a third of its size), then draw every
// figure from the JSON specs. Text and tables need none of this.
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("afterfit-figures").textContent);
  function fail(message) {
    document.querySelectorAll(".plot").forEach(function (el) {
      el.innerHTML = '<p class="plot-error">' + message + "</p>";
      el.style.minHeight = "0";
    });
    document.body.setAttribute("data-figures", "failed");
  }
  function draw() {
    var fg = getComputedStyle(document.body).color;
    var nodes = Array.prototype.slice.call(document.querySelectorAll(".plot[data-figure]"));
    var config = { responsive: true, displaylogo: false, toImageButtonOptions: { format: "png", scale: 2 } };
    var next = function (i) {
      if (i >= nodes.length) { document.body.setAttribute("data-figures", "done"); return; }
      var el = nodes[i];
      var spec = specs[el.getAttribute("data-figure")];
      if (spec) {
        var layout = Object.assign({}, spec.layout);
        layout.font = Object.assign({}, layout.font || {}, { color: fg });
        window.Plotly.newPlot(el, spec.data, layout, config).then(function () {
          el.setAttribute("data-rendered", "true");
        });
      }
      // Yield between figures so the page stays responsive while they draw.
      setTimeout(function () { next(i + 1); }, 0);
    };
    next(0);
  }
  var packed = document.getElementById("afterfit-plotly-gz").textContent.trim();
  if (!packed) { fail("Figures are off in this report (written without plotly.js)."); return; }
  if (typeof DecompressionStream === "undefined") {
    fail("This browser cannot unpack the figures (no DecompressionStream); open the page in a current browser, or see the PNG files in figures/.");
    return;
  }
  var binary = atob(packed);
  var bytes = new Uint8Array(binary.length);
  for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(stream).text().then(function (code) {
    var script = document.createElement("script");
    script.textContent = code;
    document.head.appendChild(script);
    draw();
  }).catch(function (err) { fail("Could not unpack plotly.js: " + err); });
})();
