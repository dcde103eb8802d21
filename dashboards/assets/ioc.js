/* Browser-side pieces of the IOC dashboard: clock, honest freshness badge, SLA timers.
   Time is always shown in the configured zone (Asia/Ho_Chi_Minh), whatever the PC's zone. */
(function () {
  "use strict";

  var formatters = {};
  function fmt(tz, lang, kind) {
    var key = tz + "|" + lang + "|" + kind;
    if (!formatters[key]) {
      var locale = lang === "en" ? "en-GB" : "vi-VN";
      var opts = kind === "time"
        ? {timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"}
        : {timeZone: tz, weekday: "short", day: "2-digit", month: "2-digit", year: "numeric"};
      formatters[key] = new Intl.DateTimeFormat(locale, opts);
    }
    return formatters[key];
  }

  function duration(ms) {
    var s = Math.max(0, Math.floor(Math.abs(ms) / 1000));
    var sign = ms < 0 ? "-" : "";
    if (s < 60) return sign + s + "s";
    if (s < 3600) return sign + Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    if (s < 86400) return sign + Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
    return sign + Math.floor(s / 86400) + "d" + String(Math.floor((s % 86400) / 3600)).padStart(2, "0") + "h";
  }

  // Server clock offset, so ages are measured on the server's clock, not the PC's.
  var last = {status: null, at: 0, offset: 0, newest: null, changedAt: Date.now()};

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    ioc: {
      clock: function (_n, cfg) {
        cfg = cfg || {tz: "Asia/Ho_Chi_Minh", lang: "vi"};
        var now = new Date(Date.now() + last.offset);
        return [fmt(cfg.tz, cfg.lang, "time").format(now), fmt(cfg.tz, cfg.lang, "date").format(now)];
      },

      freshness: function (_n, status, cfg) {
        var T = (cfg && cfg.texts) || {};
        var ctx = window.dash_clientside.callback_context;
        var byStatus = ctx && ctx.triggered && ctx.triggered.some(function (t) {
          return t.prop_id === "shell-status.data";
        });
        if (status && (byStatus || last.status === null)) {
          last.status = status;
          last.at = Date.now();
          last.offset = status.server_ms - Date.now();
        }
        var st = last.status;
        if (!st) return [T["fresh.none"] || "—", "freshness unknown", ""];
        var sinceReply = Date.now() - last.at;
        if (sinceReply > 10000) {
          return [T["fresh.offline"] + " (" + duration(sinceReply) + ")", "freshness stale",
                  T["fresh.offline"]];
        }
        var now = Date.now() + last.offset;
        if (st.newest_ms === null || st.newest_ms === undefined) {
          return [T["fresh.none"], "freshness unknown", ""];
        }
        // A source clock ahead of ours (or a rebased replay) stamps events in the future; then
        // the stamp alone would look fresh for a while after data stops. Also count how long
        // the newest stamp has not changed, as seen from here.
        if (st.newest_ms !== last.newest) {
          last.newest = st.newest_ms;
          last.changedAt = Date.now();
        }
        var ahead = st.newest_ms - now;
        var age = Math.max(now - st.newest_ms, Date.now() - last.changedAt);
        var when = fmt(cfg.tz, cfg.lang, "time").format(new Date(st.newest_ms));
        var label = T["fresh.label"] + " " + when + " · " + (ahead > 5000
          ? T["fresh.ahead"] + " " + duration(ahead)
          : duration(Math.max(0, now - st.newest_ms)) + " " + T["fresh.ago"]);
        // Read from a streaming replica: say how far behind the primary it is.
        if (st.replica_lag_s !== null && st.replica_lag_s !== undefined && st.replica_lag_s >= 1) {
          label += " · " + T["fresh.replica"] + " " + duration(st.replica_lag_s * 1000);
        }
        var stalled = st.heartbeat_ms !== null && st.heartbeat_ms !== undefined &&
          now - st.heartbeat_ms > st.worker_stall_s * 1000;
        if (stalled) {
          var hb = T["fresh.ingest_down"] + " (" + duration(now - st.heartbeat_ms) + ")";
          return [hb + " · " + label, "freshness stale", hb];
        }
        if (age > st.stale_after_s * 1000) {
          return [T["fresh.stale"] + " · " + label, "freshness stale", T["fresh.stale"]];
        }
        if (age > (st.stale_after_s * 1000) / 3 || ahead > 5000) {
          return [label, "freshness late", label];
        }
        return [label, "freshness live", label];
      },

      // A click on one of many pattern-matched rows: which one, ignoring re-renders (n_clicks 0).
      pick: function () {
        var ctx = window.dash_clientside.callback_context;
        var hit = (ctx.triggered || []).filter(function (t) { return t.value; })[0];
        if (!hit) return window.dash_clientside.no_update;
        var raw = hit.prop_id.slice(0, hit.prop_id.lastIndexOf("."));
        var id = JSON.parse(raw);
        return {id: id.id, at: Date.now()};
      },

      // The selected alarm's tick: passes the 1 s tick on only while an alarm is selected,
      // so pages without a selection send no request for it.
      whenSelected: function (n, selected) {
        return selected && selected.id ? n : window.dash_clientside.no_update;
      },

      clearOnClick: function (n) {
        return n ? null : window.dash_clientside.no_update;
      },

      langLinks: function (pathname, search) {
        var next = encodeURIComponent((pathname || "/live") + (search || ""));
        return ["/auth/lang/vi?next=" + next, "/auth/lang/en?next=" + next];
      }
    }
  });

  // SLA and age timers tick in the browser: elements carry data-since (epoch ms) and
  // optionally data-due (epoch ms of the SLA deadline), so the server need not re-render.
  function tickTimers() {
    var now = Date.now() + last.offset;
    var nodes = document.querySelectorAll("[data-since]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var since = Number(el.getAttribute("data-since"));
      var until = el.getAttribute("data-until");
      var end = until ? Number(until) : now;
      // An age is never negative: an event stamped a little ahead of this clock is "0s" old.
      el.textContent = duration(Math.max(0, end - since));
    }
    var dues = document.querySelectorAll("[data-due]");
    for (var j = 0; j < dues.length; j++) {
      var d = dues[j];
      var left = Number(d.getAttribute("data-due")) - now;
      d.textContent = left >= 0 ? duration(left) : "+" + duration(-left);
      d.classList.toggle("overdue", left < 0);
      d.classList.toggle("due-soon", left >= 0 && left < 60000);
    }
  }
  function markNav() {
    var links = document.querySelectorAll(".nav-link");
    for (var k = 0; k < links.length; k++) {
      links[k].classList.toggle("active", links[k].getAttribute("href") === window.location.pathname);
    }
  }
  setInterval(function () { tickTimers(); markNav(); }, 1000);
})();

/* The alarm column scrolls as one: bring what the operator just caused into view inside it,
   the detail when a card is picked and a form message (e.g. "note required") when it appears. */
(function () {
  "use strict";
  var seen = {alarm: null, message: ""};
  function reveal(el, block) {
    if (el && el.offsetParent !== null) el.scrollIntoView({block: block, inline: "nearest"});
  }
  new MutationObserver(function () {
    var summary = document.querySelector("#alarm-summary .alarm-summary");
    var alarm = summary ? summary.getAttribute("data-alarm") : null;
    if (alarm !== seen.alarm) {
      seen.alarm = alarm;
      if (alarm) reveal(document.getElementById("alarm-detail"), "nearest");
    }
    var msg = document.getElementById("alarm-message");
    var text = msg ? msg.textContent : "";
    if (text !== seen.message) {
      seen.message = text;
      if (text) reveal(msg, "nearest");
    }
  }).observe(document.documentElement, {childList: true, subtree: true, characterData: true});
})();
