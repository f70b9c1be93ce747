// The operator console's behaviour. Loaded as a file (the CSP allows no inline script).
// 1. Every htmx request carries the CSRF token from <meta name="csrf-token">.
// 2. Live updates: server-sent events from /api/v1/events become DOM events on <body>
//    ("quant:decision", "quant:fill", "quant:status", "quant:change") that htmx fragments
//    re-fetch on (hx-trigger="quant:decision from:body").
// 3. Charts (TradingView Lightweight Charts): the equity curve and an asset's candles.
// 4. Advice on profile bounds (the server decides; this only marks a value outside them).
(function () {
  "use strict";

  var TYPES = ["decision", "fill", "status", "change"];
  var body = document.body;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  body.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // A fragment re-fetched after the session ended lands on the sign-in page: go there.
  body.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.responseURL && new URL(xhr.responseURL).pathname === "/login") {
      event.detail.shouldSwap = false;
      window.location.assign("/login");
    }
  });

  function dispatch(type, raw) {
    var detail = null;
    try {
      detail = raw ? JSON.parse(raw) : null;
    } catch (err) {
      detail = raw;
    }
    if (detail && typeof detail === "object" && detail.type && !type) {
      type = detail.type;
    }
    if (TYPES.indexOf(type) < 0) {
      return;
    }
    fire(type, detail);
  }

  // At most one DOM event per type every THROTTLE_MS: the first at once (a decision reaches
  // the page immediately), then the latest one when the interval ends (nothing is missed at
  // the end of a burst), so a fast replay does not flood the server with re-fetches.
  var THROTTLE_MS = 250;
  var gates = {};

  function fire(type, detail) {
    var gate = gates[type] || (gates[type] = { last: 0, timer: null, detail: null });
    var now = Date.now();
    gate.detail = detail;
    if (gate.timer) {
      return;
    }
    var wait = gate.last + THROTTLE_MS - now;
    if (wait <= 0) {
      gate.last = now;
      body.dispatchEvent(new CustomEvent("quant:" + type, { detail: detail, bubbles: true }));
      return;
    }
    gate.timer = setTimeout(function () {
      gate.timer = null;
      gate.last = Date.now();
      body.dispatchEvent(new CustomEvent("quant:" + type, { detail: gate.detail, bubbles: true }));
    }, wait);
  }

  // A confirmation box confirms one change: clear it once the server has answered.
  body.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.tagName === "FORM") {
      form.querySelectorAll('input[name="confirm"]').forEach(function (box) {
        box.checked = false;
      });
    }
  });

  function setLive(state, text) {
    var badge = document.getElementById("live-status");
    if (badge) {
      badge.setAttribute("data-state", state);
      badge.textContent = text;
    }
  }

  function connect() {
    if (body.getAttribute("data-live") !== "on" || !window.EventSource) {
      return;
    }
    var source = new EventSource("/api/v1/events");
    source.addEventListener("open", function () {
      setLive("open", "Live: connected");
    });
    source.addEventListener("error", function () {
      setLive("error", "Live: reconnecting");
    });
    source.addEventListener("message", function (event) {
      dispatch(null, event.data);
    });
    TYPES.forEach(function (type) {
      source.addEventListener(type, function (event) {
        dispatch(type, event.data);
      });
    });
    window.addEventListener("pagehide", function () {
      source.close();
    });
  }

  // --- charts ---------------------------------------------------------------------------
  var COLORS = { up: "#0f6b2f", down: "#b3261e", entry: "#0f6b2f", partial_exit: "#8a5300", exit: "#b3261e", prediction: "#6d28d9", equity: "#0b57d0" };

  function ascending(points) {
    // Lightweight Charts needs strictly increasing times: keep the last value per time.
    var byTime = new Map();
    points.forEach(function (p) { byTime.set(p.time, p); });
    return Array.from(byTime.values()).sort(function (a, b) { return a.time - b.time; });
  }

  function snap(times, t) {
    // The bar a marker belongs to: the last bar opening at or before it.
    var lo = 0, hi = times.length - 1, found = times[0];
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (times[mid] <= t) { found = times[mid]; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  function newChart(el, left) {
    var LWC = window.LightweightCharts;
    return LWC.createChart(el, {
      autoSize: true,
      layout: { attributionLogo: false, background: { color: "#ffffff" }, textColor: "#1b1f24" },
      grid: { vertLines: { color: "#eef1f4" }, horzLines: { color: "#eef1f4" } },
      timeScale: { timeVisible: true, secondsVisible: false },
      leftPriceScale: { visible: !!left, borderColor: "#c9d0d8" },
      rightPriceScale: { borderColor: "#c9d0d8" },
    });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error(url + ": " + r.status)); });
  }

  function serial(load) {
    // One load at a time; events during a load ask for one more load after it.
    var busy = false, again = false;
    function run() {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      load().catch(function () {}).then(function () {
        busy = false;
        if (again) {
          again = false;
          run();
        }
      });
    }
    return run;
  }

  function equityChart(el) {
    var LWC = window.LightweightCharts;
    var chart = newChart(el, false);
    var series = chart.addSeries(LWC.LineSeries, { color: COLORS.equity, lineWidth: 2, title: "portfolio value" });
    function load() {
      return getJSON(el.getAttribute("data-src")).then(function (rows) {
        series.setData(ascending(rows.map(function (r) { return { time: r[0], value: Number(r[1]) }; })));
        el.setAttribute("data-points", String(rows.length));
        chart.timeScale().fitContent();
      });
    }
    var refresh = serial(load);
    refresh();
    body.addEventListener("quant:decision", refresh);
    body.addEventListener("quant:fill", refresh);
  }

  function assetChart(el) {
    var LWC = window.LightweightCharts;
    var chart = newChart(el, true);
    var candles = chart.addSeries(LWC.CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, borderVisible: false,
      wickUpColor: COLORS.up, wickDownColor: COLORS.down,
    });
    var prediction = chart.addSeries(LWC.LineSeries, {
      priceScaleId: "left", color: COLORS.prediction, lineWidth: 2, title: "P(up)",
      autoscaleInfoProvider: function () { return { priceRange: { minValue: 0, maxValue: 1 } }; },
    });
    var markers = LWC.createSeriesMarkers(candles, []);
    function load() {
      return getJSON(el.getAttribute("data-src")).then(function (doc) {
        var bars = ascending(doc.bars.map(function (b) {
          return { time: b.time_s, open: Number(b.open), high: Number(b.high), low: Number(b.low), close: Number(b.close) };
        }));
        candles.setData(bars);
        prediction.setData(ascending(doc.predictions.map(function (p) { return { time: p.time_s, value: Number(p.value) }; })));
        var times = bars.map(function (b) { return b.time; });
        var marks = times.length ? doc.markers.map(function (m) {
          var entry = m.kind === "entry";
          return {
            time: snap(times, m.time_s),
            position: entry ? "belowBar" : "aboveBar",
            color: COLORS[m.kind] || COLORS.exit,
            shape: entry ? "arrowUp" : "arrowDown",
            text: m.kind.replace("_", " "),
          };
        }) : [];
        marks.sort(function (a, b) { return a.time - b.time; });
        markers.setMarkers(marks);
        el.setAttribute("data-bars", String(bars.length));
        el.setAttribute("data-markers", String(marks.length));
        chart.timeScale().fitContent();
      });
    }
    var refresh = serial(load);
    refresh();
    body.addEventListener("quant:decision", refresh);
  }

  function charts() {
    if (!window.LightweightCharts) {
      return;
    }
    document.querySelectorAll('[data-chart="equity"]').forEach(equityChart);
    document.querySelectorAll('[data-chart="asset"]').forEach(assetChart);
  }

  // --- profile bounds (advice only) ------------------------------------------------------
  function adviseBounds(input) {
    var min = input.getAttribute("data-min"), max = input.getAttribute("data-max");
    var hint = document.getElementById("b-" + input.name);
    var value = Number(input.value);
    var outside = input.value.trim() !== "" && !isNaN(value) &&
      ((min !== null && value < Number(min)) || (max !== null && value > Number(max)));
    input.setAttribute("aria-invalid", outside ? "true" : "false");
    if (hint) {
      hint.classList.toggle("advice", outside);
    }
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target && target.hasAttribute && (target.hasAttribute("data-min") || target.hasAttribute("data-max"))) {
      adviseBounds(target);
    }
  });

  connect();
  charts();
})();
