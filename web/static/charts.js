// Draws every chart of a report page. The options come from a
// <script type="application/json"> block that html/template escaped, so no
// value from tenant data is ever run as script.
(function () {
  'use strict';
  if (typeof echarts === 'undefined') return;
  var charts = [];
  document.querySelectorAll('[data-chart]').forEach(function (el) {
    var src = document.getElementById(el.getAttribute('data-chart'));
    if (!src) return;
    var opt;
    try {
      opt = JSON.parse(src.textContent);
    } catch (e) {
      el.textContent = 'This chart could not be read.';
      return;
    }
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    chart.setOption(opt);
    charts.push(chart);
    el.setAttribute('data-drawn', 'true');
  });
  var pending;
  window.addEventListener('resize', function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      charts.forEach(function (c) { c.resize(); });
    }, 100);
  });
})();
