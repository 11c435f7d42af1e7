// The script inlined into report.html: draws the timeline (report.json's `timeline`) with uPlot,
// which the page inlines before it as the global `uPlot`. Plain ES2017 in a string so the report
// stays one file that opens offline; test/browser/report-html.test.ts runs it in chromium.
// (No backticks or dollar-brace inside: this is a template literal.)

export const REPORT_CLIENT_JS = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('drm-report-data').textContent);
  var tl = data.report.timeline;
  var charts = [];
  var AXIS = '#526071';
  var GRID = { stroke: '#e2e8f0', width: 1 };
  var TYPE_COLORS = ['#0891b2', '#7c3aed', '#059669', '#d97706', '#db2777', '#65a30d', '#4f46e5'];
  var ACTION = { scale_up: { color: '#15803d', sign: '\u25B2 +' }, scale_down: { color: '#b91c1c', sign: '\u25BC \u2212' } };

  function clock(sec) {
    var s = Math.max(0, Math.round(sec));
    var m = Math.floor(s / 60);
    var r = s % 60;
    return m + ':' + (r < 10 ? '0' : '') + r;
  }
  function percent(u, v) { return v === null || v === undefined ? '\u2013' : v.toFixed(1) + '%'; }
  function count(u, v) { return v === null || v === undefined ? '\u2013' : String(Math.round(v * 100) / 100); }
  function scaled(list, k) { return list.map(function (v) { return v * k; }); }
  function max(list) { return list.reduce(function (a, b) { return Math.max(a, b); }, 0); }
  function noData(box, text) {
    box.textContent = text;
    box.classList.add('nodata');
    box.setAttribute('data-rendered', 'empty');
  }

  var boxes = Array.prototype.slice.call(document.querySelectorAll('[data-chart]'));
  if (!tl || !tl.atMs || tl.atMs.length < 2 || typeof uPlot === 'undefined') {
    boxes.forEach(function (b) { noData(b, 'No timeline data for this run.'); });
    return;
  }

  var xs = tl.atMs.map(function (t) { return (t - tl.startMs) / 1000; });
  var markers = tl.scaling
    .filter(function (m) { return ACTION[m.action]; })
    .map(function (m) {
      var a = ACTION[m.action];
      return { x: (m.atMs - tl.startMs) / 1000, color: a.color, dashed: !m.executed, label: a.sign + m.count + ' ' + (m.workerType || '') + (m.executed ? '' : ' (not executed)') };
    });
  var stepped = uPlot.paths.stepped({ align: 1 });
  // Whole seconds and minutes on the time axis, so m:ss labels never repeat.
  var STEPS = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 14400, 28800, 86400];
  var NO_POINTS = { show: false };

  /** Scaling decisions as vertical lines across the plot; with labels on the charts that ask for them. */
  function markerPlugin(labels) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          var dpr = window.devicePixelRatio || 1;
          var top = u.bbox.top;
          var bottom = u.bbox.top + u.bbox.height;
          ctx.save();
          ctx.font = Math.round(11 * dpr) + 'px system-ui, sans-serif';
          ctx.textBaseline = 'top';
          ctx.textAlign = 'left';
          markers.forEach(function (m, i) {
            var x = Math.round(u.valToPos(m.x, 'x', true));
            if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) return;
            ctx.strokeStyle = m.color;
            ctx.lineWidth = 1.5 * dpr;
            ctx.setLineDash(m.dashed ? [2 * dpr, 3 * dpr] : [6 * dpr, 3 * dpr]);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, bottom);
            ctx.stroke();
            if (!labels) return;
            var y = top + (2 + (i % 3) * 14) * dpr;
            var w = ctx.measureText(m.label).width;
            var lx = x + 3 * dpr + w > u.bbox.left + u.bbox.width ? x - 3 * dpr - w : x + 3 * dpr;
            ctx.fillStyle = 'rgba(255,255,255,0.85)';
            ctx.fillRect(lx - 2 * dpr, y - 1 * dpr, w + 4 * dpr, 13 * dpr);
            ctx.fillStyle = m.color;
            ctx.fillText(m.label, lx, y);
          });
          ctx.restore();
        }],
      },
    };
  }

  function chart(id, series, columns, opts) {
    var box = document.getElementById(id);
    if (!box) return;
    var width = Math.max(320, box.clientWidth);
    var u = new uPlot({
      width: width,
      height: 190,
      cursor: { sync: { key: 'drm-report' }, drag: { x: true, y: false } },
      legend: { live: true },
      scales: { x: { time: false, range: function () { return [0, xs[xs.length - 1]]; } }, y: { range: opts.range } },
      axes: [
        { stroke: AXIS, grid: GRID, space: 60, incrs: STEPS, values: function (u, vals) { return vals.map(clock); } },
        { stroke: AXIS, grid: GRID, size: 52, values: opts.axisValues },
      ],
      series: [{ label: 'elapsed', value: function (u, v) { return v === null || v === undefined ? '\u2013' : clock(v); } }].concat(series),
      plugins: [markerPlugin(!!opts.labels)],
    }, [xs].concat(columns), box);
    box.setAttribute('data-rendered', 'true');
    box.setAttribute('data-markers', String(markers.length));
    charts.push({ plot: u, box: box });
  }

  var pctRange = function (u, min, mx) { return [0, Math.max(100, Math.ceil((mx || 0) / 10) * 10)]; };
  var pctAxis = function (u, vals) { return vals.map(function (v) { return v + '%'; }); };
  var util = tl.utilization;

  function utilChart(id, key, color) {
    var series = [{ label: 'reserved', stroke: color, fill: color + '22', width: 2, paths: stepped, points: NO_POINTS, value: percent }];
    var columns = [scaled(util.reserved[key], 100)];
    if (util.measured && util.measured[key]) {
      series.push({ label: 'measured', stroke: '#d97706', width: 2, dash: [6, 4], paths: stepped, points: NO_POINTS, value: percent });
      columns.push(scaled(util.measured[key], 100));
    }
    chart(id, series, columns, { range: pctRange, axisValues: pctAxis });
  }

  utilChart('chart-cpu', 'cpu', '#2563eb');
  utilChart('chart-memory', 'memory', '#7c3aed');
  var gpuBox = document.getElementById('chart-gpu');
  if (gpuBox) {
    if (max(tl.capacity.gpus) > 0) utilChart('chart-gpu', 'gpu', '#059669');
    else noData(gpuBox, 'No GPU capacity in this run.');
  }

  var countRange = function (u, min, mx) { return [0, Math.max(2, Math.ceil(mx || 0) + 1)]; };
  chart('chart-queue', [
    { label: 'pending', stroke: '#dc2626', fill: '#dc262618', width: 2, paths: stepped, points: NO_POINTS, value: count },
    { label: 'in flight', stroke: '#2563eb', width: 2, paths: stepped, points: NO_POINTS, value: count },
  ], [tl.queueDepth, tl.inFlight], { range: countRange });

  var types = Object.keys(tl.workers.byType);
  chart('chart-workers', [{ label: 'workers', stroke: '#0f172a', width: 2.5, paths: stepped, points: NO_POINTS, value: count }].concat(types.map(function (t, i) {
    return { label: t, stroke: TYPE_COLORS[i % TYPE_COLORS.length], width: 1.5, dash: [4, 3], paths: stepped, points: NO_POINTS, value: count };
  })), [tl.workers.total].concat(types.map(function (t) { return tl.workers.byType[t]; })), { range: countRange, labels: true });

  function fit() {
    charts.forEach(function (c) { c.plot.setSize({ width: Math.max(320, c.box.clientWidth), height: 190 }); });
  }
  var pending = 0;
  window.addEventListener('resize', function () {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(fit);
  });
  window.drmReport = { charts: charts.length, markers: markers.length, points: xs.length };
})();
`;
