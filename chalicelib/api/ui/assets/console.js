/* The operator console: signs in with an admin key kept in this tab's
   sessionStorage (never a URL, never a cookie) and calls the API with it. */
"use strict";

(function () {
  var D = window.Dangol, el = D.el;
  var KEY_NAME = "dangol.adminKey";
  var state = { program: null, draft: null, member: null, historyCursor: null, charts: {} };
  window.DangolConsole = state; // the charts' data, for people and tests poking at the page

  function $(id) { return document.getElementById(id); }
  function key() { return sessionStorage.getItem(KEY_NAME); }
  function api(method, path, body, headers) { return D.call(key(), method, path, body, headers); }
  function post(path, body) { return api("POST", path, body, { "Idempotency-Key": D.newIdempotencyKey() }); }
  function say(text) { $("status").textContent = text || ""; }
  function currency() { return (state.program && state.program.currency) || "KRW"; }

  /* -- sign in / navigation ------------------------------------------------ */
  var VIEWS = ["overview", "program", "members", "catalog", "insights", "campaigns", "imports", "webhooks"];

  function show(view) {
    $("signin").hidden = !!key();
    $("nav").hidden = !key();
    VIEWS.forEach(function (name) { $(name).hidden = !key() || name !== view; });
    Array.prototype.forEach.call(document.querySelectorAll("#nav [data-view]"), function (button) {
      if (button.getAttribute("data-view") === view) button.setAttribute("aria-current", "page");
      else button.removeAttribute("aria-current");
    });
    if (!key()) { $("admin-key").focus(); return; }
    if (location.hash !== "#" + view) history.replaceState(null, "", "#" + view);
    ({ overview: loadOverview, program: loadProgram, members: function () {}, catalog: loadCatalog, insights: loadInsights, campaigns: loadCampaigns, imports: function () {}, webhooks: loadWebhooks })[view]();
  }

  function failed(error) {
    if (error && (error.status === 401 || error.status === 403)) {
      sessionStorage.removeItem(KEY_NAME);
      show("overview");
      $("admin-key-error").textContent = "Signed out: " + error.message;
      return;
    }
    say(error && error.message ? error.code + ": " + error.message : String(error));
  }

  $("signin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var secret = $("admin-key").value.trim();
    $("admin-key-error").textContent = "";
    if (!secret) { $("admin-key-error").textContent = "Paste an admin API key."; return; }
    D.call(secret, "GET", "stats").then(function () {
      sessionStorage.setItem(KEY_NAME, secret);
      $("admin-key").value = "";
      show("overview");
    }, function (error) {
      $("admin-key-error").textContent = error.status === 403
        ? "This key may not use the console (an admin key is needed): " + error.message
        : "Not signed in: " + error.message;
    });
  });

  $("sign-out").addEventListener("click", function () {
    sessionStorage.removeItem(KEY_NAME);
    say("Signed out.");
    show("overview");
  });

  Array.prototype.forEach.call(document.querySelectorAll("#nav [data-view]"), function (button) {
    button.addEventListener("click", function () { say(""); show(button.getAttribute("data-view")); });
  });

  /* -- overview -------------------------------------------------------------- */
  function isoDay(date) { return date.toISOString().slice(0, 10); }

  function todayIn(timezone) {
    try {
      return new Intl.DateTimeFormat("en-CA", { timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
    } catch (e) { return isoDay(new Date()); }
  }

  function chartWidth(node) { return Math.max(280, Math.min(node.parentNode.clientWidth - 24, 1100)); }

  function drawChart(name, node, options, data) {
    if (state.charts[name]) state.charts[name].destroy();
    D.clear(node);
    options.width = chartWidth(node);
    options.height = options.height || 240;
    state.charts[name] = new uPlot(options, data, node);
  }

  function drawTiers(byTier) {
    var names = state.program.tiers.map(function (t) { return t.name; });
    Object.keys(byTier).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });
    var counts = names.map(function (n) { return byTier[n] || 0; });
    D.fillRows($("tier-table").tBodies[0], names.map(function (n, i) { return [n, D.number(counts[i])]; }));
    var xs = names.map(function (_, i) { return i; });
    drawChart("tiers", $("tier-chart"), {
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.15)]; } } },
      legend: { show: false },
      axes: [{ splits: function () { return xs; }, values: function (u, splits) { return splits.map(function (i) { return names[i] || ""; }); } },
             { values: function (u, splits) { return splits.map(function (v) { return Number.isInteger(v) ? D.number(v) : ""; }); } }],
      series: [{}, { label: "Members", stroke: "#1d4ed8", fill: "rgba(29,78,216,0.75)", width: 1,
                     paths: uPlot.paths.bars({ size: [0.6, 90] }), points: { show: false } }]
    }, [xs, counts]);
    state.charts.tiers.labels = names;
  }

  function drawDaily(items) {
    var xs = items.map(function (d) { return Date.parse(d.date + "T00:00:00Z") / 1000; });
    var pick = function (field) { return items.map(function (d) { return d[field] || 0; }); };
    var counts = { size: 64, values: function (u, splits) { return splits.map(function (v) { return D.number(v); }); } };
    drawChart("points", $("points-chart"), {
      scales: { x: { time: true } },
      axes: [{}, counts],
      series: [{ label: "Date", value: function (u, v) { return v == null ? "" : isoDay(new Date(v * 1000)); } },
               { label: "Earned", stroke: "#15803d", width: 2 },
               { label: "Redeemed", stroke: "#1d4ed8", width: 2 },
               { label: "Expired", stroke: "#b91c1c", width: 2, dash: [6, 4] }]
    }, [xs, pick("points_earned"), pick("points_redeemed"), pick("points_expired")]);
    drawChart("joined", $("joined-chart"), {
      height: 180,
      scales: { x: { time: true } },
      axes: [{}, counts],
      series: [{ label: "Date", value: function (u, v) { return v == null ? "" : isoDay(new Date(v * 1000)); } },
               { label: "New members", stroke: "#7c3aed", fill: "rgba(124,58,237,0.6)",
                 paths: uPlot.paths.bars({ size: [0.8, 12] }), points: { show: false } }]
    }, [xs, pick("members_joined")]);
    var rows = items.filter(function (d) {
      return d.points_earned || d.points_redeemed || d.points_expired || d.members_joined || d.earns;
    }).reverse();
    D.fillRows($("daily-table").tBodies[0], rows.map(function (d) {
      return [d.date, D.number(d.points_earned || 0), D.number(d.points_redeemed || 0), D.number(d.points_expired || 0),
              D.number(d.members_joined || 0), D.number(d.earns || 0), D.money(d.purchase_amount || 0, currency())];
    }));
    var earns = 0, amount = 0;
    items.forEach(function (d) { earns += d.earns || 0; amount += d.purchase_amount || 0; });
    $("kpi-average").textContent = earns ? D.money(Math.floor(amount / earns), currency()) : "no earns yet";
    $("daily-note").textContent = items.length ? items[0].date + " to " + items[items.length - 1].date + " (" + state.program.timezone + ")" : "";
  }

  function loadOverview() {
    say("Loading the overview …");
    Promise.all([api("GET", "program"), api("GET", "stats")]).then(function (answers) {
      state.program = answers[0];
      var stats = answers[1];
      $("kpi-members").textContent = D.number(stats.members);
      $("kpi-outstanding").textContent = D.number(stats.points_outstanding);
      $("kpi-pending").textContent = D.number(stats.points_pending || 0);
      $("kpi-liability").textContent = D.money(stats.liability, currency());
      $("kpi-coupons").textContent = stats.coupons_issued === undefined ? "–"
        : D.number(stats.coupons_issued) + " / " + D.number(stats.coupons_used);
      $("kpi-expiry-rate").textContent = stats.points_earned
        ? (stats.points_expired * 100 / stats.points_earned).toFixed(1) + "%" : "–";
      drawTiers(stats.members_by_tier || {});
      var to = todayIn(state.program.timezone);
      var from = isoDay(new Date(Date.parse(to + "T00:00:00Z") - 89 * 86400000));
      return api("GET", "stats/daily?from=" + from + "&to=" + to).then(function (daily) {
        drawDaily(daily.items);
        say("");
      }, function (error) {
        $("daily-note").textContent = "Daily figures are not available: " + error.message;
        $("kpi-average").textContent = "–";
        say("");
      });
    }).catch(failed);
  }

  /* -- program editor ---------------------------------------------------------- */
  var MAPS = { "category_multipliers": "rate", "activities": "int", "auto_coupons.tier_up": "text" };
  var LISTS = {
    "tiers": { name: "", min_spend: 0, earn_multiplier: "1", expiry_days: null },
    "promotions": { name: "", multiplier: "2", starts_at: "", ends_at: "", categories: null }
  };
  var NULLABLE_OBJECTS = {
    "frequency_bonus": { min_purchases: 3, extra_rate: "0.02" }, "dormancy": { after_days: 180 },
    "recommendation_bonus": { extra_rate: "0.05" }
  };
  var STRING_LISTS = { "transfer.allowed_tiers": [], "categories": null };
  var RATE = /(^|_)(rate|multiplier)$/;
  var NULLABLE_TEXT = /^auto_coupons\./;
  var LABELS = {
    currency: "Currency (ISO 4217)", timezone: "Timezone (IANA)", point_value: "Point value (currency units per point)",
    base_rate: "Base earn rate", signup_bonus: "Signup bonus (points)", birthday_bonus: "Birthday bonus (points)",
    expiry_days: "Points expire after (days)", expiry_warning_days: "Warn before expiry (days)",
    referrer_points: "Referrer points", referee_points: "Referee points", min_points: "Minimum points",
    allowed_tiers: "Tiers allowed to transfer (comma-separated; empty: none)", min_spend: "Minimum spend (quarter)",
    earn_multiplier: "Earn multiplier", categories: "Categories (comma-separated; empty: whole purchase)",
    starts_at: "Starts at (ISO-8601)", ends_at: "Ends at (ISO-8601)", max_earns_per_day: "Most earns per day (empty: no limit)",
    max_earn_points_per_day: "Most earned points per day (empty: no limit)", min_purchases: "From the nth purchase in a month",
    extra_rate: "Extra rate", after_days: "Dormant after (days without earn or redeem)", phone_region: "Phone region (ISO 3166)"
  };

  function pathKey(path) { return path.filter(function (p) { return typeof p === "string"; }).join("."); }
  function getAt(object, path) { return path.reduce(function (o, p) { return o == null ? undefined : o[p]; }, object); }
  function setAt(object, path, value) {
    var parent = getAt(object, path.slice(0, -1));
    parent[path[path.length - 1]] = value;
  }
  function kindOf(path, value) {
    var last = path[path.length - 1];
    if (typeof last === "string" && RATE.test(last)) return "rate";
    if (NULLABLE_TEXT.test(pathKey(path))) return "text";
    if (typeof value === "number") return "int";
    if (typeof value === "string") return "text";
    return "int"; // a null number field such as expiry_days or a limit
  }
  function convert(kind, text, original) {
    var trimmed = text.trim();
    if (kind === "int") {
      if (trimmed === "") return null;
      return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed; // the server names what is wrong
    }
    if (kind === "text" && trimmed === "" && original === null) return null;
    return kind === "rate" ? trimmed : text;
  }
  function labelFor(path) {
    var last = path[path.length - 1];
    return LABELS[last] || String(last).replace(/_/g, " ").replace(/^./, function (c) { return c.toUpperCase(); });
  }
  function idFor(path) { return "pf-" + path.join("-"); }
  function errorSlot(path) {
    return el("p", { className: "field-error", id: idFor(path) + "-error", "data-error-for": path.join(".") });
  }

  function scalarField(path, value) {
    var kind = kindOf(path, value);
    var id = idFor(path);
    var input = el("input", { id: id, "data-path": path.join("."), "aria-describedby": id + "-error",
                              inputmode: kind === "int" ? "numeric" : (kind === "rate" ? "decimal" : null) });
    input.value = value === null || value === undefined ? "" : String(value);
    input.addEventListener("input", function () { setAt(state.draft, path, convert(kind, input.value, value)); refreshTierChoices(); });
    return el("div", { className: "field" }, [el("label", { "for": id, text: labelFor(path) }), input, errorSlot(path)]);
  }

  function stringListField(path, value) {
    var id = idFor(path);
    var input = el("input", { id: id, "data-path": path.join("."), "aria-describedby": id + "-error" });
    input.value = (value || []).join(", ");
    input.addEventListener("input", function () {
      var parts = input.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      setAt(state.draft, path, parts.length ? parts : (STRING_LISTS[path[path.length - 1]] === null || STRING_LISTS[pathKey(path)] === null ? null : []));
    });
    return el("div", { className: "field" }, [el("label", { "for": id, text: labelFor(path) }), input, errorSlot(path)]);
  }

  function mapField(path, value, kind) {
    var box = el("fieldset", { className: "group", "data-path": path.join(".") }, [el("legend", { text: labelFor(path) })]);
    var entries = Object.keys(value || {}).map(function (k) { return [k, value[k]]; });
    function write() {
      var object = {};
      entries.forEach(function (e) { if (e[0] !== "") object[e[0]] = e[1]; });
      setAt(state.draft, path, object);
    }
    function row(entry, index) {
      var base = idFor(path) + "-" + index;
      var keyInput = el("input", { id: base + "-key", "aria-label": labelFor(path) + " name " + (index + 1) });
      var valueInput = el("input", { id: base + "-value", "aria-label": labelFor(path) + " value " + (index + 1),
                                     "data-path": path.concat([entry[0]]).join(".") });
      keyInput.value = entry[0];
      valueInput.value = entry[1] === null ? "" : String(entry[1]);
      keyInput.addEventListener("input", function () { entry[0] = keyInput.value.trim(); valueInput.setAttribute("data-path", path.concat([entry[0]]).join(".")); write(); });
      valueInput.addEventListener("input", function () { entry[1] = convert(kind, valueInput.value, ""); write(); });
      var remove = el("button", { type: "button", className: "secondary small", text: "Remove",
                                  "aria-label": "Remove " + (entry[0] || "entry " + (index + 1)) });
      remove.addEventListener("click", function () { entries.splice(entries.indexOf(entry), 1); write(); renderProgramForm(); });
      return el("div", { className: "map-row" }, [keyInput, valueInput, remove]);
    }
    entries.forEach(function (e, i) { box.appendChild(row(e, i)); });
    var add = el("button", { type: "button", className: "secondary small", text: "Add" });
    add.addEventListener("click", function () {
      var object = Object.assign({}, getAt(state.draft, path) || {});
      var name = "new", n = 1;
      while (Object.prototype.hasOwnProperty.call(object, name)) name = "new-" + (++n);
      object[name] = kind === "int" ? 0 : (kind === "rate" ? "1" : "");
      setAt(state.draft, path, object);
      renderProgramForm(idFor(path) + "-" + Object.keys(object).length + "-key");
    });
    box.appendChild(add);
    box.appendChild(errorSlot(path));
    return box;
  }

  function listField(path, value, blank) {
    var box = el("fieldset", { className: "group", "data-path": path.join(".") }, [el("legend", { text: labelFor(path) })]);
    (value || []).forEach(function (item, index) {
      var rowPath = path.concat([index]);
      var row = el("fieldset", { className: "list-row", "data-path": rowPath.join(".") },
                   [el("legend", { text: String(path[path.length - 1]).replace(/s$/, "") + " " + (index + 1) })]);
      Object.keys(blank).forEach(function (field) {
        row.appendChild(renderField(rowPath.concat([field]), item[field] === undefined ? blank[field] : item[field]));
      });
      Object.keys(item).forEach(function (field) {
        if (!(field in blank)) row.appendChild(renderField(rowPath.concat([field]), item[field]));
      });
      var remove = el("button", { type: "button", className: "secondary small", text: "Remove " + String(path[path.length - 1]).replace(/s$/, "") + " " + (index + 1) });
      remove.addEventListener("click", function () { getAt(state.draft, path).splice(index, 1); renderProgramForm(); });
      row.appendChild(remove);
      row.appendChild(errorSlot(rowPath));
      box.appendChild(row);
    });
    var add = el("button", { type: "button", className: "secondary small", text: "Add " + String(path[path.length - 1]).replace(/s$/, "") });
    add.addEventListener("click", function () {
      var list = getAt(state.draft, path);
      list.push(JSON.parse(JSON.stringify(blank)));
      renderProgramForm(idFor(path.concat([list.length - 1, Object.keys(blank)[0]])));
    });
    box.appendChild(add);
    box.appendChild(errorSlot(path));
    return box;
  }

  function nullableObjectField(path, value, blank) {
    var id = idFor(path) + "-on";
    var toggle = el("input", { type: "checkbox", id: id });
    toggle.checked = value !== null && value !== undefined;
    toggle.addEventListener("change", function () {
      setAt(state.draft, path, toggle.checked ? JSON.parse(JSON.stringify(blank)) : null);
      renderProgramForm(id);
    });
    var box = el("fieldset", { className: "group", "data-path": path.join(".") }, [
      el("legend", { text: labelFor(path) }),
      el("div", { className: "check" }, [toggle, el("label", { "for": id, text: "On" })])]);
    if (toggle.checked) Object.keys(value).forEach(function (field) { box.appendChild(renderField(path.concat([field]), value[field])); });
    box.appendChild(errorSlot(path));
    return box;
  }

  function renderField(path, value) {
    var name = pathKey(path), last = path[path.length - 1];
    if (MAPS[name]) return mapField(path, value, MAPS[name]);
    if (LISTS[name]) return listField(path, value, LISTS[name]);
    if (NULLABLE_OBJECTS[name]) return nullableObjectField(path, value, NULLABLE_OBJECTS[name]);
    if (name in STRING_LISTS || last in STRING_LISTS) return stringListField(path, value);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      var box = el("fieldset", { className: "group", "data-path": path.join(".") }, [el("legend", { text: labelFor(path) })]);
      Object.keys(value).forEach(function (field) { box.appendChild(renderField(path.concat([field]), value[field])); });
      box.appendChild(errorSlot(path));
      return box;
    }
    return scalarField(path, value);
  }

  function renderProgramForm(focusId) {
    var box = $("program-fields");
    D.clear(box);
    Object.keys(state.draft).forEach(function (field) { box.appendChild(renderField([field], state.draft[field])); });
    refreshTierChoices();
    if (focusId && $(focusId)) $(focusId).focus();
  }

  function refreshTierChoices() {
    var select = $("preview-tier"), chosen = select.value;
    D.clear(select);
    (state.draft.tiers || []).forEach(function (tier) {
      if (tier && tier.name) select.appendChild(el("option", { value: tier.name, text: tier.name }));
    });
    if (chosen) select.value = chosen;
  }

  function clearErrors(scope) {
    Array.prototype.forEach.call(scope.querySelectorAll(".field-error"), function (p) { p.textContent = ""; });
    Array.prototype.forEach.call(scope.querySelectorAll("[aria-invalid]"), function (n) { n.removeAttribute("aria-invalid"); });
  }

  /* "tiers.1.min_spend: Input should be ...; body: ..." -> each message next to its field */
  function showProgramErrors(message, stripPrefix, fallback) {
    var unplaced = [];
    message.split("; ").forEach(function (part) {
      var match = /^([A-Za-z0-9_.\-]+): ([\s\S]*)$/.exec(part);
      var path = match ? match[1] : "";
      var text = match ? match[2] : part;
      if (stripPrefix && path.indexOf(stripPrefix) === 0) path = path.slice(stripPrefix.length);
      if (!placeError(path, text)) unplaced.push(part);
    });
    if (unplaced.length) fallback.textContent = unplaced.join("; ");
  }

  function placeError(path, text) {
    var parts = path.split(".");
    var mentions = /\b(tiers|promotions|auto_coupons|frequency_bonus|dormancy|limits|recommendation_bonus)\b/.exec(text);
    if ((path === "body" || path === "") && mentions) parts = [mentions[1]];
    while (parts.length && parts[0] !== "body" && parts[0] !== "") {
      var slot = document.querySelector('[data-error-for="' + parts.join(".") + '"]');
      if (slot) {
        slot.textContent = text;
        var field = document.querySelector('#program-fields [data-path="' + parts.join(".") + '"]');
        if (field) field.setAttribute("aria-invalid", "true");
        return true;
      }
      parts.pop();
    }
    return false;
  }

  function loadProgram() {
    say("Loading the program …");
    api("GET", "program").then(function (program) {
      state.program = program;
      state.draft = JSON.parse(JSON.stringify(program));
      clearErrors($("program-form"));
      renderProgramForm();
      say("");
    }).catch(failed);
  }

  $("program-reload").addEventListener("click", loadProgram);

  $("program-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors($("program-form"));
    api("PUT", "program", state.draft).then(function (saved) {
      state.program = saved;
      state.draft = JSON.parse(JSON.stringify(saved));
      renderProgramForm();
      say("Program saved.");
    }, function (error) {
      if (error.status === 400) {
        showProgramErrors(error.message, "", $("program-form-error"));
        say("The program was not saved: fix the fields marked.");
        var first = document.querySelector("#program-fields [aria-invalid]");
        if (first) first.focus();
      } else failed(error);
    });
  });

  function purchaseFromForm() {
    var amount = convert("int", $("preview-amount").value, "");
    var purchase = { amount: amount, month_earns: convert("int", $("preview-month-earns").value, "") };
    var lines = $("preview-items").value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    if (lines.length) {
      purchase.items = lines.map(function (line, i) {
        var cells = line.split(",").map(function (s) { return s.trim(); });
        return { sku: "sample-" + (i + 1), category: cells[0], amount: convert("int", cells[1] || "", "") };
      });
    }
    if ($("preview-occurred").value.trim()) purchase.occurred_at = $("preview-occurred").value.trim();
    if (purchase.month_earns === null) delete purchase.month_earns;
    if ($("preview-tier").value) purchase.tier = $("preview-tier").value;
    return purchase;
  }

  $("preview-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors($("preview-form"));
    clearErrors($("program-form"));
    var result = $("preview-result");
    D.clear(result);
    api("POST", "program/preview", { program: state.draft, purchase: purchaseFromForm() }).then(function (answer) {
      var table = el("table", { className: "data", id: "preview-breakdown" }, [
        el("caption", { text: "Breakdown" }),
        el("thead", {}, [el("tr", {}, [el("th", { scope: "col", text: "Rule" }), el("th", { scope: "col", text: "Points" })])]),
        el("tbody")]);
      D.fillRows(table.tBodies[0], answer.breakdown.map(function (line) { return [line.rule, D.number(line.points)]; }));
      result.appendChild(el("p", { className: "big" }, [el("span", { id: "preview-points", text: D.number(answer.points) }), " points"]));
      result.appendChild(table);
    }, function (error) {
      if (error.status !== 400) return failed(error);
      var unplaced = [];
      error.message.split("; ").forEach(function (part) {
        var match = /^purchase\.(amount|items|occurred_at|month_earns)\b[^:]*: ([\s\S]*)$/.exec(part);
        if (match) $("preview-" + { amount: "amount", items: "items", occurred_at: "occurred", month_earns: "month-earns" }[match[1]] + "-error").textContent = match[2];
        else unplaced.push(part);
      });
      if (unplaced.length) showProgramErrors(unplaced.join("; "), "program.", $("preview-error"));
    });
  });

  /* -- members ------------------------------------------------------------------- */
  $("find-by").addEventListener("change", function () {
    $("find-value").placeholder = { phone: "010-1234-5678", email: "name@example.com", id: "member id" }[$("find-by").value];
  });

  $("find-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var by = $("find-by").value, value = $("find-value").value.trim();
    $("find-error").textContent = "";
    D.clear($("find-results"));
    if (!value) { $("find-error").textContent = "Type a " + (by === "id" ? "member id" : by) + "."; return; }
    var request = by === "id"
      ? api("GET", "members/" + encodeURIComponent(value)).then(function (m) { return { items: [m] }; })
      : api("GET", "members?" + by + "=" + encodeURIComponent(value));
    request.then(function (page) {
      if (!page.items.length) { $("find-error").textContent = "No member found."; return; }
      page.items.forEach(function (member) {
        var button = el("button", { type: "button", className: "link",
                                    text: (member.name || "(no name)") + " · " + member.member_id + " · " + member.tier + " · " + D.number(member.balance) + " points" });
        button.addEventListener("click", function () { openMember(member.member_id); });
        $("find-results").appendChild(el("li", {}, [button]));
      });
      if (page.items.length === 1) openMember(page.items[0].member_id);
    }, function (error) {
      if (error.status === 404) $("find-error").textContent = "No member found.";
      else if (error.status === 400) $("find-error").textContent = error.message;
      else failed(error);
    });
  });

  function openMember(memberId) {
    var base = "members/" + encodeURIComponent(memberId);
    api("GET", base).then(function (member) {
      state.member = member;
      $("member-detail").hidden = false;
      $("member-title").textContent = (member.name || "(no name)") + " — " + member.member_id;
      $("member-balance").textContent = D.number(member.balance) + " points";
      /* §25: points of earns inside the return window, spendable from available_at */
      var pending = member.pending || [];
      $("member-pending-points").textContent = D.number(member.pending_points || 0) + " points";
      D.fillRows($("member-pending").tBodies[0], pending.length
        ? pending.map(function (lot) { return [D.number(lot.points), D.when(lot.available_at)]; })
        : [["–", "no points pending"]]);
      $("member-tier").textContent = member.tier + (member.dormant ? " (dormant)" : "");
      $("member-contact").textContent = [member.email, member.phone].filter(Boolean).join(" · ") || "–";
      $("member-suspension").textContent = member.suspension
        ? "Suspended since " + D.day(member.suspension.since) + ": " + member.suspension.reason
        : (member.suspension === null ? "Not suspended" : "–");
      var progress = D.tierProgress(member);
      $("member-progress").value = progress.percent;
      $("member-progress").textContent = progress.percent + "%";
      $("member-progress-label").textContent = member.next_tier
        ? "Progress to " + member.next_tier.name + ": " + D.money(member.quarter_spend, currency()) + " of " + D.money(progress.target, currency()) + " this quarter (" + progress.percent + "%)"
        : "Top tier reached";
      D.fillRows($("member-expiring").tBodies[0], member.expiring.length
        ? member.expiring.map(function (lot) { return [D.number(lot.points), D.when(lot.expires_at)]; })
        : [["–", "nothing expires in the next 30 days"]]);
      state.historyCursor = null;
      D.clear($("member-history").tBodies[0]);
      loadHistory();
      api("GET", base + "/coupons?limit=50").then(function (page) {
        D.fillRows($("member-coupons").tBodies[0], page.items.map(function (c) { return [c.code, c.name, c.status, D.day(c.expires_at)]; }));
      }, function (error) { D.fillRows($("member-coupons").tBodies[0], [["–", "Coupons not available: " + error.message, "", ""]]); });
      /* §22: the campaigns whose audience the member is in, and its arm in each */
      api("GET", base + "/campaigns").then(function (page) {
        D.fillRows($("member-campaigns").tBodies[0], page.items.length
          ? page.items.map(function (c) { return [c.campaign_id, c.arm]; })
          : [["–", "in no campaign"]]);
      }, function (error) { D.fillRows($("member-campaigns").tBodies[0], [["–", "Campaigns not available: " + error.message]]); });
      api("GET", base + "/notifications?limit=20").then(function (page) {
        D.fillRows($("member-notifications").tBodies[0], page.items.map(function (n) { return [D.when(n.created_at), n.type, n.channel || "–", n.status]; }));
      }, failed);
      $("member-detail").focus && $("member-title").scrollIntoView({ block: "nearest" });
    }, failed);
  }

  function loadHistory() {
    var member = state.member;
    var path = "members/" + encodeURIComponent(member.member_id) + "/transactions?limit=20" +
      (state.historyCursor ? "&cursor=" + encodeURIComponent(state.historyCursor) : "");
    api("GET", path).then(function (page) {
      var tbody = $("member-history").tBodies[0];
      page.items.forEach(function (tx) {
        tbody.appendChild(el("tr", {}, [D.when(tx.created_at), tx.type, D.number(tx.points), D.number(tx.balance_after),
          tx.reason || tx.order_id || ""].map(function (cell) { return el("td", { text: String(cell) }); })));
      });
      state.historyCursor = page.next_cursor;
      $("history-more").hidden = !page.next_cursor;
    }, failed);
  }
  $("history-more").addEventListener("click", loadHistory);

  $("adjust-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors($("adjust-form"));
    var reason = $("adjust-reason").value.trim();
    if (!reason) { $("adjust-reason-error").textContent = "A reason is required."; $("adjust-reason").focus(); return; }
    var points = convert("int", $("adjust-points").value, "");
    post("members/" + encodeURIComponent(state.member.member_id) + "/adjustments", { points: points, reason: reason }).then(function (tx) {
      say("Adjusted " + D.number(tx.points) + " points; balance " + D.number(tx.balance_after) + ".");
      $("adjust-points").value = ""; $("adjust-reason").value = "";
      openMember(state.member.member_id);
    }, function (error) {
      if (error.status === 401) return failed(error);
      var match = /^(points|reason): ([\s\S]*)$/.exec(error.message);
      if (match) $("adjust-" + match[1] + "-error").textContent = match[2];
      else $("adjust-error").textContent = error.code + ": " + error.message;
    });
  });

  $("suspend-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("suspend-error").textContent = "";
    post("members/" + encodeURIComponent(state.member.member_id) + "/suspension", { reason: $("suspend-reason").value.trim() }).then(function () {
      $("suspend-reason").value = "";
      openMember(state.member.member_id);
    }, function (error) { $("suspend-error").textContent = error.code + ": " + error.message; });
  });
  $("unsuspend-button").addEventListener("click", function () {
    $("suspend-error").textContent = "";
    api("DELETE", "members/" + encodeURIComponent(state.member.member_id) + "/suspension").then(function () {
      openMember(state.member.member_id);
    }, function (error) { $("suspend-error").textContent = error.code + ": " + error.message; });
  });

  /* -- coupon templates and rewards ------------------------------------------------ */
  function discountText(d) {
    if (!d) return "";
    if (d.type === "amount") return D.money(d.amount, currency());
    return d.percent + "%" + (d.max_amount ? " (at most " + D.money(d.max_amount, currency()) + ")" : "");
  }

  function loadCatalog() {
    api("GET", "program").then(function (p) { state.program = p; }).catch(function () {});
    api("GET", "coupon-templates?limit=100").then(function (page) {
      $("templates-note").textContent = "";
      D.fillRows($("templates-table").tBodies[0], page.items.map(function (t) {
        return [t.template_id, t.name, discountText(t.discount), t.valid_days, t.points_cost === null ? "not for sale" : D.number(t.points_cost)];
      }));
    }, function (error) { $("templates-note").textContent = "Coupon templates are not available: " + error.message; });
    api("GET", "rewards?limit=100").then(function (page) {
      D.fillRows($("rewards-table").tBodies[0], page.items.map(function (r) {
        return [r.reward_id, r.name, D.number(r.points_cost), r.stock === null ? "unlimited" : D.number(r.stock)];
      }));
    }, failed);
  }

  function optionalInt(id) { return $(id).value.trim() === "" ? null : convert("int", $(id).value, ""); }

  $("template-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("template-error").textContent = "";
    var discount = $("tpl-type").value === "amount"
      ? { type: "amount", amount: convert("int", $("tpl-value").value, "") }
      : { type: "percent", percent: convert("int", $("tpl-value").value, ""), max_amount: optionalInt("tpl-max_amount") };
    post("coupon-templates", {
      template_id: $("tpl-template_id").value.trim(), name: $("tpl-name").value.trim(), discount: discount,
      min_order_amount: convert("int", $("tpl-min_order_amount").value || "0", ""),
      valid_days: convert("int", $("tpl-valid_days").value || "30", ""), points_cost: optionalInt("tpl-points_cost")
    }).then(function () { $("template-form").reset(); say("Coupon template created."); loadCatalog(); },
            function (error) { $("template-error").textContent = error.code + ": " + error.message; });
  });

  $("reward-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("reward-error").textContent = "";
    post("rewards", {
      reward_id: $("rw-reward_id").value.trim(), name: $("rw-name").value.trim(),
      points_cost: convert("int", $("rw-points_cost").value, ""), stock: optionalInt("rw-stock")
    }).then(function () { $("reward-form").reset(); say("Reward created."); loadCatalog(); },
            function (error) { $("reward-error").textContent = error.code + ": " + error.message; });
  });

  /* -- insights (analytics, read from the last refresh) ------------------------------ */
  var RFM_NAMES = ["champions", "loyal", "promising", "at_risk", "hibernating", "needs_attention"];
  var SUMMARY_ROWS = [
    ["members_at_end", "Members at the end", "count"], ["new_members", "New members", "count"],
    ["active_members", "Active members (purchased)", "count"], ["active_rate", "Active rate (of members at the end)", "rate"],
    ["repeat_members", "Repeat members (2+ purchases)", "count"], ["repeat_rate", "Repeat rate (of active)", "rate"],
    ["purchases", "Purchases", "count"], ["purchase_amount", "Purchase amount (net)", "money"],
    ["average_order_value", "Average order value", "money"], ["points_earned", "Points earned", "count"],
    ["points_redeemed", "Points redeemed", "count"], ["points_expired", "Points expired", "count"],
    ["redemption_rate", "Redemption rate (redeemed ÷ earned)", "rate"], ["breakage_rate", "Breakage rate (expired ÷ earned)", "rate"],
    ["coupons_issued", "Coupons issued", "count"], ["coupons_used", "Coupons used", "count"]
  ];
  var SEGMENT_FIELDS = {
    recency_days: "numeric", frequency: "numeric", monetary: "numeric", clv: "numeric", balance: "numeric",
    days_since_joined: "numeric", tier: "choice", rfm_segment: "choice", bought_category: "text", bought_sku: "text", dormant: "flag"
  };
  var OPS = { numeric: ["gte", "gt", "eq", "ne", "lt", "lte"], choice: ["eq", "ne", "in"], text: ["eq"], flag: ["eq"] };
  var OP_LABELS = { eq: "is", ne: "is not", gt: "more than", gte: "at least", lt: "less than", lte: "at most", "in": "is one of" };

  /* "0.2500" as "25.00%" (text only: the rate stays the exact decimal the API gave) */
  function percent(rate) {
    if (rate === null || rate === undefined) return "–";
    var negative = rate.charAt(0) === "-", digits = rate.replace("-", "").replace(".", "");
    var whole = String(parseInt(digits.slice(0, digits.length - 2), 10) || 0);
    return (negative ? "-" : "") + whole + "." + digits.slice(-2) + "%";
  }
  function shown(kind, value) {
    if (kind === "rate") return percent(value);
    if (kind === "money") return D.money(value || 0, currency());
    return D.number(value || 0);
  }
  function shiftMonth(month, by) {
    var n = parseInt(month.slice(0, 4), 10) * 12 + parseInt(month.slice(5, 7), 10) - 1 + by;
    return String(Math.floor(n / 12)).padStart(4, "0") + "-" + String(n % 12 + 1).padStart(2, "0");
  }

  function loadInsights() {
    say("Loading insights …");
    api("GET", "program").then(function (p) { state.program = p; }).catch(function () {});
    var windows = ["days=30", "days=90", "days=365"];
    Promise.all(windows.map(function (q) { return api("GET", "analytics/summary?" + q); })).then(function (answers) {
      var asOf = answers[0].as_of;
      state.insights = { asOf: asOf, month: asOf ? answers[0].to.slice(0, 7) : null };
      $("insights-as-of").textContent = asOf
        ? "Figures as of " + D.when(asOf) + " (the last analytics refresh)."
        : "No analytics refresh has run yet: every figure is empty until one has. Refresh now, or wait for the daily run.";
      var month = state.insights.month
        ? api("GET", "analytics/summary?month=" + state.insights.month) : Promise.resolve(answers[0]);
      return month.then(function (thisMonth) {
        $("summary-month-head").textContent = state.insights.month ? "This month (" + state.insights.month + ")" : "This month";
        drawSummary([thisMonth].concat(answers));
        if (!$("cohort-to").value) $("cohort-to").value = state.insights.month || todayIn((state.program || {}).timezone || "UTC").slice(0, 7);
        if (!$("cohort-from").value) $("cohort-from").value = shiftMonth($("cohort-to").value, -11);
        loadCohorts();
        loadRfm();
        loadSegments(null);
        say("");
      });
    }).catch(failed);
  }

  function drawSummary(columns) {
    state.summary = columns;
    D.fillRows($("summary-table").tBodies[0], SUMMARY_ROWS.map(function (row) {
      return [row[1]].concat(columns.map(function (answer) { return shown(row[2], answer[row[0]]); }));
    }));
  }

  $("insights-refresh").addEventListener("click", function () {
    api("POST", "analytics/refresh").then(function () {
      say("Refresh started: it runs in the background; reload Insights in a few minutes.");
    }, failed);
  });

  function loadCohorts() {
    $("cohort-from-error").textContent = ""; $("cohort-to-error").textContent = "";
    var from = $("cohort-from").value.trim(), to = $("cohort-to").value.trim();
    api("GET", "analytics/cohorts?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to)).then(drawCohorts, function (error) {
      if (error.status !== 400) return failed(error);
      var target = /\bto\b/.test(error.message) && !/\bfrom\b/.test(error.message) ? "cohort-to-error" : "cohort-from-error";
      $(target).textContent = error.message;
    });
  }
  $("cohort-form").addEventListener("submit", function (event) { event.preventDefault(); loadCohorts(); });

  function drawCohorts(answer) {
    state.cohorts = answer;
    var width = answer.items.reduce(function (most, item) { return Math.max(most, item.active.length); }, 0);
    var head = $("cohort-table").tHead.rows[0];
    D.clear(head);
    ["Cohort", "Members"].concat(Array.from({ length: width }, function (_, k) { return "Month " + k; })).forEach(function (text) {
      head.appendChild(el("th", { scope: "col", text: text }));
    });
    var body = $("cohort-table").tBodies[0];
    D.clear(body);
    answer.items.forEach(function (item) {
      var row = el("tr", {}, [el("th", { scope: "row", text: item.cohort }), el("td", { text: D.number(item.members) })]);
      for (var k = 0; k < width; k++) {
        if (k >= item.active.length) { row.appendChild(el("td", { text: "" })); continue; }
        var count = item.active[k], share = item.members ? count / item.members : 0;
        var cell = el("td", { className: "heat" + (share > 0.55 ? " dark" : ""),
                              text: D.number(count) + " · " + (item.members ? Math.round(share * 1000) / 10 + "%" : "–") });
        cell.style.backgroundColor = "rgba(29,78,216," + (0.08 + share * 0.85).toFixed(2) + ")";
        row.appendChild(cell);
      }
      body.appendChild(row);
    });
    $("cohort-note").textContent = answer.as_of ? "" : "No cohorts until the first analytics refresh.";
  }

  function loadRfm() {
    api("GET", "analytics/rfm").then(function (answer) {
      state.rfm = answer;
      D.fillRows($("rfm-table").tBodies[0], answer.items.map(function (row) {
        return [row.rfm_segment.replace("_", " "), D.number(row.members), D.money(row.avg_monetary, currency()), D.money(row.avg_clv, currency())];
      }));
      var names = answer.items.map(function (row) { return row.rfm_segment; });
      var xs = names.map(function (_, i) { return i; });
      drawChart("rfm", $("rfm-chart"), {
        scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.15)]; } } },
        legend: { show: false },
        axes: [{ splits: function () { return xs; }, values: function (u, splits) { return splits.map(function (i) { return (names[i] || "").replace("_", " "); }); } },
               { values: function (u, splits) { return splits.map(function (v) { return Number.isInteger(v) ? D.number(v) : ""; }); } }],
        series: [{}, { label: "Members", stroke: "#0f766e", fill: "rgba(15,118,110,0.75)", width: 1,
                       paths: uPlot.paths.bars({ size: [0.6, 90] }), points: { show: false } }]
      }, [xs, answer.items.map(function (row) { return row.members; })]);
      state.charts.rfm.labels = names;
    }, failed);
  }

  function ruleText(rule) {
    var value = Array.isArray(rule.value) ? rule.value.join(", ") : String(rule.value);
    return rule.field.replace(/_/g, " ") + " " + (OP_LABELS[rule.op] || rule.op) + " " + value;
  }

  function loadSegments(cursor) {
    api("GET", "segments?limit=50" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "")).then(function (page) {
      var tbody = $("segments-table").tBodies[0];
      if (!cursor) D.clear(tbody);
      page.items.forEach(function (segment) {
        var members = el("button", { type: "button", className: "small secondary", text: "Members",
                                     "aria-label": "Members of " + segment.segment_id });
        members.addEventListener("click", function () { openSegment(segment, null); });
        var remove = el("button", { type: "button", className: "small secondary", text: "Delete",
                                    "aria-label": "Delete " + segment.segment_id });
        remove.addEventListener("click", function () { deleteSegment(segment.segment_id); });
        tbody.appendChild(el("tr", { "data-segment": segment.segment_id }, [
          el("td", { text: segment.segment_id }), el("td", { text: segment.name }),
          el("td", { text: segment.rules.map(ruleText).join("; ") }),
          el("td", { text: segment.members === null ? "not computed yet" : D.number(segment.members) }),
          el("td", { text: segment.avg_clv === null ? "–" : D.money(segment.avg_clv, currency()) }),
          el("td", { text: segment.as_of ? D.when(segment.as_of) : "–" }),
          el("td", {}, [members, " ", remove])]));
      });
      state.segmentsCursor = page.next_cursor;
      $("segments-more").hidden = !page.next_cursor;
      $("segments-note").textContent = tbody.rows.length ? "" : "No segments yet: define one with the form.";
    }, failed);
  }
  $("segments-more").addEventListener("click", function () { loadSegments(state.segmentsCursor); });

  function openSegment(segment, cursor) {
    state.segment = segment;
    var path = "members?segment=" + encodeURIComponent(segment.segment_id) + "&limit=50" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    api("GET", path).then(function (page) {
      $("segment-members").hidden = false;
      $("segment-members-title").textContent = "Members of " + segment.name + " (" + segment.segment_id + ")" +
        (segment.as_of ? ", as of " + D.when(segment.as_of) : ": none until the next refresh");
      var list = $("segment-members-list");
      if (!cursor) D.clear(list);
      page.items.forEach(function (member) {
        var button = el("button", { type: "button", className: "link",
                                    text: (member.name || "(no name)") + " · " + member.member_id + " · " + member.tier + " · " + D.number(member.balance) + " points" });
        button.addEventListener("click", function () { show("members"); openMember(member.member_id); });
        list.appendChild(el("li", {}, [button]));
      });
      if (!list.children.length) list.appendChild(el("li", { text: "No members." }));
      state.segmentMembersCursor = page.next_cursor;
      $("segment-members-more").hidden = !page.next_cursor;
    }, failed);
  }
  $("segment-members-more").addEventListener("click", function () { openSegment(state.segment, state.segmentMembersCursor); });

  function deleteSegment(segmentId) {
    if (!window.confirm("Delete segment " + segmentId + "?")) return;
    api("DELETE", "segments/" + encodeURIComponent(segmentId)).then(function () {
      say("Segment " + segmentId + " deleted.");
      $("segment-members").hidden = true;
      loadSegments(null);
    }, failed);
  }

  /* the rule editor: one row per rule, its inputs named by index (seg-rule-<i>-field/op/value) */
  function ruleRow() {
    var index = $("seg-rules").children.length;
    var id = "seg-rule-" + index;
    var fieldSelect = el("select", { id: id + "-field" }, Object.keys(SEGMENT_FIELDS).map(function (name) {
      return el("option", { value: name, text: name.replace(/_/g, " ") });
    }));
    var opSelect = el("select", { id: id + "-op" });
    var value = el("input", { id: id + "-value", "aria-describedby": id + "-error" });
    var remove = el("button", { type: "button", className: "small secondary", text: "Remove", "aria-label": "Remove rule " + (index + 1) });
    function ops() {
      var kind = SEGMENT_FIELDS[fieldSelect.value], chosen = opSelect.value;
      D.clear(opSelect);
      OPS[kind].forEach(function (op) { opSelect.appendChild(el("option", { value: op, text: OP_LABELS[op] })); });
      if (OPS[kind].indexOf(chosen) >= 0) opSelect.value = chosen;
      value.placeholder = { numeric: "an integer", choice: "a name (is one of: comma-separated)", text: "a name", flag: "true or false" }[kind];
    }
    fieldSelect.addEventListener("change", ops);
    ops();
    var row = el("div", { className: "rule-row", "data-rule": String(index) }, [
      el("div", {}, [el("label", { "for": id + "-field", text: "Rule " + (index + 1) + ": field" }), fieldSelect]),
      el("div", {}, [el("label", { "for": id + "-op", text: "condition" }), opSelect]),
      el("div", {}, [el("label", { "for": id + "-value", text: "value" }), value]),
      remove,
      el("p", { id: id + "-error", className: "field-error" })]);
    remove.addEventListener("click", function () {
      var rules = readRules();
      rules.splice(index, 1);
      setRules(rules);
    });
    $("seg-rules").appendChild(row);
    return row;
  }

  /* a value as typed: an integer, true/false or a list where the field takes one; anything
     else as the text typed, so that the API's 400 says what is wrong with it */
  function ruleValue(kind, op, text) {
    text = text.trim();
    if (kind === "numeric" && /^-?[0-9]+$/.test(text)) return parseInt(text, 10);
    if (kind === "flag" && (text === "true" || text === "false")) return text === "true";
    if (kind === "choice" && op === "in") return text ? text.split(",").map(function (s) { return s.trim(); }) : [];
    return text;
  }

  function readRules() {
    return Array.prototype.map.call($("seg-rules").children, function (row, i) {
      var field = $("seg-rule-" + i + "-field").value, op = $("seg-rule-" + i + "-op").value;
      return { field: field, op: op, value: ruleValue(SEGMENT_FIELDS[field], op, $("seg-rule-" + i + "-value").value), text: $("seg-rule-" + i + "-value").value };
    });
  }

  function setRules(rules) {
    D.clear($("seg-rules"));
    (rules.length ? rules : [{ field: "frequency", op: "gte", text: "" }]).forEach(function (rule, i) {
      ruleRow();
      $("seg-rule-" + i + "-field").value = rule.field;
      $("seg-rule-" + i + "-field").dispatchEvent(new Event("change"));
      $("seg-rule-" + i + "-op").value = rule.op;
      $("seg-rule-" + i + "-value").value = rule.text || "";
    });
  }
  $("seg-add-rule").addEventListener("click", function () { ruleRow(); });
  setRules([]);

  function clearSegmentErrors() {
    Array.prototype.forEach.call($("segment-form").querySelectorAll(".field-error"), function (p) { p.textContent = ""; });
    Array.prototype.forEach.call($("segment-form").querySelectorAll("[aria-invalid]"), function (n) { n.removeAttribute("aria-invalid"); });
  }

  /* a 400's message next to what it names: segment_id, name, rules[<i>] (or rules.<i>), rules */
  function showSegmentError(error) {
    var placed = false;
    error.message.split("; ").forEach(function (part) {
      var match = /^(segment_id|name)\b[^:]*: ([\s\S]*)$/.exec(part);
      if (match) {
        $("seg-" + match[1] + "-error").textContent = match[2];
        $("seg-" + match[1]).setAttribute("aria-invalid", "true");
        placed = true; return;
      }
      match = /^rules(?:\[(\d+)\]|\.(\d+))[^:]*: ([\s\S]*)$/.exec(part);
      var index = match ? (match[1] || match[2]) : null;
      if (match && $("seg-rule-" + index + "-error")) {
        $("seg-rule-" + index + "-error").textContent = match[3];
        $("seg-rule-" + index + "-value").setAttribute("aria-invalid", "true");
        placed = true; return;
      }
      if (/^rules\b/.test(part)) { $("seg-rules-error").textContent = part; placed = true; }
    });
    if (!placed) $("segment-error").textContent = error.code + ": " + error.message;
  }

  $("segment-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearSegmentErrors();
    var rules = readRules().map(function (r) { return { field: r.field, op: r.op, value: r.value }; });
    api("POST", "segments", { segment_id: $("seg-segment_id").value.trim(), name: $("seg-name").value.trim(), rules: rules }).then(function (segment) {
      say("Segment " + segment.segment_id + " created: its members are assigned at the next analytics refresh.");
      $("seg-segment_id").value = ""; $("seg-name").value = "";
      setRules([]);
      loadSegments(null);
    }, function (error) {
      if (error.status === 401 || error.status === 403) return failed(error);
      if (error.status === 409) {
        $("seg-segment_id-error").textContent = error.message;
        $("seg-segment_id").setAttribute("aria-invalid", "true");
        return;
      }
      if (error.status === 400) return showSegmentError(error);
      $("segment-error").textContent = error.code + ": " + error.message;
    });
  });

  /* -- campaigns (§22): define, list, results as of the last refresh ------------------- */
  var REWARD_TYPES = [["", "No reward (control)"], ["multiplier", "Points multiplier"], ["bonus", "Bonus points"], ["coupon", "Coupon"]];

  function rewardText(reward) {
    if (!reward) return "control";
    if (reward.type === "multiplier") return "×" + reward.multiplier + " points";
    if (reward.type === "bonus") return "+" + D.number(reward.points) + " points" + (reward.min_amount ? " on " + D.money(reward.min_amount, currency()) + "+" : "");
    return "coupon " + reward.template_id;
  }

  function loadCampaigns() {
    api("GET", "program").then(function (p) { state.program = p; }).catch(function () {});
    listCampaigns(null);
    api("GET", "segments?limit=100").then(function (page) {
      var select = $("cmp-segment_id"), chosen = select.value;
      D.clear(select);
      select.appendChild(el("option", { value: "", text: "Every member" }));
      page.items.forEach(function (segment) {
        select.appendChild(el("option", { value: segment.segment_id, text: segment.name + " (" + segment.segment_id + ")" }));
      });
      select.value = chosen;
    }, function () {});
    api("GET", "coupon-templates?limit=100").then(function (page) {
      state.templates = page.items.map(function (t) { return t.template_id; });
    }, function () { state.templates = []; });
  }

  function listCampaigns(cursor) {
    api("GET", "campaigns?limit=50" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "")).then(function (page) {
      var tbody = $("campaigns-table").tBodies[0];
      if (!cursor) D.clear(tbody);
      page.items.forEach(function (campaign) {
        var results = el("button", { type: "button", className: "small secondary", text: "Results",
                                     "aria-label": "Results of " + campaign.campaign_id });
        results.addEventListener("click", function () { openResults(campaign); });
        var actions = [results];
        if (campaign.status === "scheduled") {
          var remove = el("button", { type: "button", className: "small secondary", text: "Delete",
                                      "aria-label": "Delete " + campaign.campaign_id });
          remove.addEventListener("click", function () { deleteCampaign(campaign.campaign_id); });
          actions.push(" ", remove);
        }
        tbody.appendChild(el("tr", { "data-campaign": campaign.campaign_id }, [
          el("td", { text: campaign.campaign_id }), el("td", { text: campaign.name }),
          el("td", { text: campaign.segment_id || "every member" }),
          el("td", { text: campaign.status }),
          el("td", { text: campaign.audience === null ? "not launched" : D.number(campaign.audience) }),
          el("td", { text: D.when(campaign.starts_at) }), el("td", { text: D.when(campaign.ends_at) }),
          el("td", { text: campaign.arms.map(function (a) { return a.name + " " + a.weight + "% (" + rewardText(a.reward) + ")"; }).join("; ") }),
          el("td", {}, actions)]));
      });
      state.campaignsCursor = page.next_cursor;
      $("campaigns-more").hidden = !page.next_cursor;
      $("campaigns-note").textContent = tbody.rows.length ? "" : "No campaigns yet: define one with the form below.";
    }, failed);
  }
  $("campaigns-more").addEventListener("click", function () { listCampaigns(state.campaignsCursor); });

  function deleteCampaign(campaignId) {
    if (!window.confirm("Delete campaign " + campaignId + "?")) return;
    api("DELETE", "campaigns/" + encodeURIComponent(campaignId)).then(function () {
      say("Campaign " + campaignId + " deleted.");
      $("campaign-results").hidden = true;
      listCampaigns(null);
    }, failed);
  }

  /* an exact rate string ("0.3333") as a number, for drawing only (the tables show the text) */
  function rateValue(text) { return text === null || text === undefined ? null : parseFloat(text); }

  function openResults(campaign) {
    api("GET", "campaigns/" + encodeURIComponent(campaign.campaign_id) + "/results").then(function (answer) {
      state.campaignResults = answer;
      $("campaign-results").hidden = false;
      $("campaign-results-title").textContent = "Results of " + campaign.name + " (" + campaign.campaign_id + ")";
      $("campaign-results-as-of").textContent = answer.as_of
        ? "As of " + D.when(answer.as_of) + " (the last analytics refresh): purchases dated from the campaign's first day to the earlier of its last day and that refresh."
        : "No analytics refresh has counted this campaign yet: every figure is zero until one has.";
      var byArm = {}, baseline = null;
      answer.comparisons.forEach(function (c) { byArm[c.arm] = c; baseline = c.baseline; });
      if (baseline === null && answer.arms.length) baseline = answer.arms[0].name;
      var baselineRate = answer.comparisons.length ? answer.comparisons[0].baseline_rate : null;
      D.fillRows($("campaign-results-table").tBodies[0], answer.arms.map(function (arm) {
        var c = byArm[arm.name], own = c ? c.purchase_rate : (arm.name === baseline ? baselineRate : null);
        return [arm.name + (arm.name === baseline ? " (baseline)" : ""), D.number(arm.members), D.number(arm.purchasers),
                own === null ? "–" : percent(own),
                c ? percent(c.diff) : "–",
                c && c.ci95 ? percent(c.ci95[0]) + " to " + percent(c.ci95[1]) : "–",
                c ? (c.significant ? "yes" : "no") : "–",
                D.number(arm.purchases), D.money(arm.purchase_amount, currency()),
                c && c.revenue_per_member_diff !== null ? D.money(c.revenue_per_member_diff, currency()) : "–",
                D.number(arm.points_awarded), D.number(arm.coupons_used)];
      }));
      drawResults(answer, byArm, baseline, baselineRate);
      $("campaign-results-title").scrollIntoView({ block: "nearest" });
    }, failed);
  }

  /* bars: each arm's purchase rate; whiskers: baseline rate + ci95 of the arm's difference */
  function drawResults(answer, byArm, baseline, baselineRate) {
    var names = answer.arms.map(function (a) { return a.name; });
    var xs = names.map(function (_, i) { return i; });
    var rates = answer.arms.map(function (arm) {
      var c = byArm[arm.name];
      if (c) return rateValue(c.purchase_rate);
      return arm.name === baseline ? rateValue(baselineRate) : null;
    });
    var intervals = answer.arms.map(function (arm) {
      var c = byArm[arm.name];
      if (!c || !c.ci95) return null;
      var base = rateValue(c.baseline_rate);
      return [base + rateValue(c.ci95[0]), base + rateValue(c.ci95[1])];
    });
    var top = Math.max.apply(null, [0.1].concat(rates.filter(function (r) { return r !== null; }),
                                                   intervals.filter(Boolean).map(function (w) { return w[1]; })));
    var bottom = Math.min.apply(null, [0].concat(intervals.filter(Boolean).map(function (w) { return w[0]; })));
    function whiskers(u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#111827";
      ctx.lineWidth = 2 * devicePixelRatio;
      intervals.forEach(function (w, i) {
        if (!w) return;
        var x = u.valToPos(i, "x", true), low = u.valToPos(w[0], "y", true), high = u.valToPos(w[1], "y", true);
        var cap = 8 * devicePixelRatio;
        ctx.beginPath();
        ctx.moveTo(x, low); ctx.lineTo(x, high);
        ctx.moveTo(x - cap, low); ctx.lineTo(x + cap, low);
        ctx.moveTo(x - cap, high); ctx.lineTo(x + cap, high);
        ctx.stroke();
      });
      if (baselineRate !== null) {
        var y = u.valToPos(rateValue(baselineRate), "y", true);
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.strokeStyle = "#b91c1c";
        ctx.lineWidth = devicePixelRatio;
        ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
      }
      ctx.restore();
    }
    drawChart("campaign", $("campaign-chart"), {
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: function () { return [Math.min(0, bottom * 1.1), top * 1.15]; } } },
      legend: { show: false },
      axes: [{ splits: function () { return xs; }, values: function (u, splits) { return splits.map(function (i) { return names[i] || ""; }); } },
             { size: 64, values: function (u, splits) { return splits.map(function (v) { return Math.round(v * 1000) / 10 + "%"; }); } }],
      series: [{}, { label: "Purchase rate", stroke: "#7c3aed", fill: "rgba(124,58,237,0.55)", width: 1,
                     paths: uPlot.paths.bars({ size: [0.5, 90] }), points: { show: false } }],
      hooks: { draw: [whiskers] }
    }, [xs, rates]);
    state.charts.campaign.labels = names;
    state.charts.campaign.intervals = intervals;
  }

  /* the arm editor: one row per arm (cmp-arm-<i>-name/weight/type/value/min_amount) */
  function armRow() {
    var index = $("cmp-arms").children.length, id = "cmp-arm-" + index;
    var name = el("input", { id: id + "-name", "aria-describedby": id + "-error" });
    var weight = el("input", { id: id + "-weight", inputmode: "numeric", "aria-describedby": id + "-error" });
    var type = el("select", { id: id + "-type" }, REWARD_TYPES.map(function (t) { return el("option", { value: t[0], text: t[1] }); }));
    var value = el("input", { id: id + "-value", "aria-describedby": id + "-error" });
    var minimum = el("input", { id: id + "-min_amount", inputmode: "numeric", value: "0", "aria-describedby": id + "-error" });
    var valueLabel = el("label", { "for": id + "-value", text: "reward" });
    var minimumBox = el("div", {}, [el("label", { "for": id + "-min_amount", text: "minimum purchase" }), minimum]);
    var remove = el("button", { type: "button", className: "small secondary", text: "Remove", "aria-label": "Remove arm " + (index + 1) });
    function kind() {
      var chosen = type.value;
      value.disabled = chosen === "";
      valueLabel.textContent = { "": "reward", multiplier: "multiplier (e.g. 2)", bonus: "bonus points", coupon: "coupon template id" }[chosen];
      value.placeholder = { "": "none", multiplier: "2", bonus: "500", coupon: (state.templates || [])[0] || "template id" }[chosen];
      minimumBox.hidden = chosen !== "bonus";
    }
    type.addEventListener("change", kind);
    kind();
    remove.addEventListener("click", function () {
      var arms = readArms();
      arms.splice(index, 1);
      setArms(arms);
    });
    $("cmp-arms").appendChild(el("div", { className: "rule-row", "data-arm": String(index) }, [
      el("div", {}, [el("label", { "for": id + "-name", text: "Arm " + (index + 1) + ": name" }), name]),
      el("div", {}, [el("label", { "for": id + "-weight", text: "weight (%)" }), weight]),
      el("div", {}, [el("label", { "for": id + "-type", text: "reward type" }), type]),
      el("div", {}, [valueLabel, value]),
      minimumBox, remove,
      el("p", { id: id + "-error", className: "field-error" })]));
  }

  function readArms() {
    return Array.prototype.map.call($("cmp-arms").children, function (row, i) {
      var id = "cmp-arm-" + i;
      return { name: $(id + "-name").value, weight: $(id + "-weight").value, type: $(id + "-type").value,
               value: $(id + "-value").value, min_amount: $(id + "-min_amount").value };
    });
  }

  function setArms(arms) {
    D.clear($("cmp-arms"));
    (arms.length ? arms : [{ name: "control", weight: "50", type: "" }, { name: "double", weight: "50", type: "multiplier", value: "2" }]).forEach(function (arm, i) {
      armRow();
      var id = "cmp-arm-" + i;
      $(id + "-name").value = arm.name || "";
      $(id + "-weight").value = arm.weight || "";
      $(id + "-type").value = arm.type || "";
      $(id + "-type").dispatchEvent(new Event("change"));
      $(id + "-value").value = arm.value || "";
      $(id + "-min_amount").value = arm.min_amount || "0";
    });
  }
  $("cmp-add-arm").addEventListener("click", function () { armRow(); });
  setArms([]);

  /* a number as typed: an integer where it is one, else the text (so the API's 400 names it) */
  function typedInt(text) { text = String(text).trim(); return /^-?[0-9]+$/.test(text) ? parseInt(text, 10) : text; }

  function armBody(arm) {
    var reward = null;
    if (arm.type === "multiplier") reward = { type: "multiplier", multiplier: arm.value.trim() };
    if (arm.type === "bonus") reward = { type: "bonus", points: typedInt(arm.value), min_amount: typedInt(arm.min_amount || "0") };
    if (arm.type === "coupon") reward = { type: "coupon", template_id: arm.value.trim() };
    return { name: arm.name.trim(), weight: typedInt(arm.weight), reward: reward };
  }

  function clearCampaignErrors() {
    Array.prototype.forEach.call($("campaign-form").querySelectorAll(".field-error"), function (p) { p.textContent = ""; });
    Array.prototype.forEach.call($("campaign-form").querySelectorAll("[aria-invalid]"), function (n) { n.removeAttribute("aria-invalid"); });
  }

  /* a 400's message next to what it names: a field, an arm (arms.<i>... or arms[<i>]...), the arms */
  function showCampaignError(error) {
    var placed = false;
    error.message.split("; ").forEach(function (part) {
      var text = part.replace(/^body: (Value error, )?/, "");
      var match = /^(campaign_id|name|segment_id|starts_at|ends_at)\b[^:]*: ([\s\S]*)$/.exec(text);
      if (match) {
        $("cmp-" + match[1] + "-error").textContent = match[2];
        $("cmp-" + match[1]).setAttribute("aria-invalid", "true");
        placed = true; return;
      }
      if (/^ends_at must be after starts_at/.test(text)) {
        $("cmp-ends_at-error").textContent = text;
        $("cmp-ends_at").setAttribute("aria-invalid", "true");
        placed = true; return;
      }
      match = /^arms(?:\.(\d+)|\[(\d+)\])\.?([a-z_]*)[^:]*: ([\s\S]*)$/.exec(text);
      var index = match ? (match[1] || match[2]) : null;
      if (match && $("cmp-arm-" + index + "-error")) {
        var field = { name: "name", weight: "weight", reward: "value" }[match[3]] || "value";
        $("cmp-arm-" + index + "-error").textContent = (match[3] || "arm") + ": " + match[4];
        $("cmp-arm-" + index + "-" + field).setAttribute("aria-invalid", "true");
        placed = true; return;
      }
      if (/^arms\b/.test(text)) { $("cmp-arms-error").textContent = text; placed = true; }
    });
    if (!placed) $("campaign-error").textContent = error.code + ": " + error.message;
  }

  $("campaign-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearCampaignErrors();
    var body = {
      campaign_id: $("cmp-campaign_id").value.trim(), name: $("cmp-name").value.trim(),
      segment_id: $("cmp-segment_id").value || null,
      starts_at: $("cmp-starts_at").value.trim(), ends_at: $("cmp-ends_at").value.trim(),
      arms: readArms().map(armBody), notify: $("cmp-notify").checked
    };
    api("POST", "campaigns", body).then(function (campaign) {
      say("Campaign " + campaign.campaign_id + " created: it launches at " + D.when(campaign.starts_at) + " (or within the hour after).");
      $("cmp-campaign_id").value = ""; $("cmp-name").value = "";
      setArms([]);
      listCampaigns(null);
    }, function (error) {
      if (error.status === 401 || error.status === 403) return failed(error);
      if (error.status === 409) {
        $("cmp-campaign_id-error").textContent = error.message;
        $("cmp-campaign_id").setAttribute("aria-invalid", "true");
        return;
      }
      if (error.status === 400) return showCampaignError(error);
      $("campaign-error").textContent = error.code + ": " + error.message;
    });
  });

  /* -- webhooks (§24): the webhooks and each one's latest deliveries ------------------- */
  function loadWebhooks() {
    $("deliveries").hidden = true;
    api("GET", "webhooks?limit=100").then(function (page) {
      $("webhooks-note").textContent = page.items.length ? "" : "No webhooks yet (POST /webhooks).";
      var body = $("webhooks-table").tBodies[0];
      D.fillRows(body, page.items.map(function (h) {
        return [h.webhook_id, h.url, h.events.join(", "), D.when(h.created_at), ""];
      }));
      page.items.forEach(function (h, i) {
        var button = D.el("button", { type: "button", "class": "secondary", "data-webhook": h.webhook_id }, ["Deliveries"]);
        button.setAttribute("aria-label", "Deliveries of " + h.url);
        button.addEventListener("click", function () { loadDeliveries(h); });
        body.rows[i].cells[4].appendChild(button);
      });
    }, failed);
  }

  function loadDeliveries(hook) {
    api("GET", "webhooks/" + hook.webhook_id + "/deliveries?limit=50").then(function (page) {
      $("deliveries").hidden = false;
      $("deliveries-title").textContent = "Deliveries to " + hook.url;
      $("deliveries-note").textContent = page.items.length ? "Newest first." : "Nothing delivered yet.";
      var body = $("deliveries-table").tBodies[0];
      D.fillRows(body, page.items.map(function (d) {
        var code = d.last_status_code === null ? (d.last_error || "–") : String(d.last_status_code);
        return [d.event_id, d.type, d.status, D.number(d.attempts), code, d.last_attempt_at ? D.when(d.last_attempt_at) : "–", ""];
      }));
      page.items.forEach(function (d, i) {
        if (d.status !== "failed") return;
        var button = D.el("button", { type: "button", "class": "secondary" }, ["Retry"]);
        button.setAttribute("aria-label", "Retry " + d.event_id);
        button.addEventListener("click", function () {
          api("POST", "webhooks/" + hook.webhook_id + "/deliveries/" + d.event_id + "/retry").then(function () {
            say("Delivery " + d.event_id + " queued again.");
            loadDeliveries(hook);
          }, failed);
        });
        body.rows[i].cells[6].appendChild(button);
      });
      $("deliveries").focus();
    }, failed);
  }

  /* -- start ------------------------------------------------------------------------ */
  var initial = (location.hash || "").slice(1);
  show(VIEWS.indexOf(initial) >= 0 ? initial : "overview");
  /* -- imports (§25) ------------------------------------------------------------- */
  var IMPORT_MAX_BYTES = 5 * 1024 * 1024;
  var importState = { file: null, shown: null, timer: null };

  $("import-file").addEventListener("change", function () {
    importState.file = $("import-file").files[0] || null;
    $("import-error").textContent = "";
  });

  function importData() {
    if (importState.file) return importState.file.text();
    return Promise.resolve($("import-data").value);
  }

  $("import-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("import-error").textContent = "";
    importData().then(function (data) {
      if (!data.trim()) { $("import-error").textContent = "Choose a file or paste at least one line."; return; }
      if (new Blob([data]).size > IMPORT_MAX_BYTES) {
        $("import-error").textContent = "The lines are larger than 5 MiB: upload the file to the imports bucket and post its s3_key.";
        return;
      }
      $("import-start").disabled = true;
      post("imports", { format: "jsonl", data: data }).then(function (answer) {
        $("import-start").disabled = false;
        $("import-data").value = ""; $("import-file").value = ""; importState.file = null;
        say("Import " + answer.import_id + " started.");
        showImport(answer.import_id);
      }, function (error) {
        $("import-start").disabled = false;
        if (error.status === 401) return failed(error);
        $("import-error").textContent = error.code + ": " + error.message;
      });
    });
  });

  $("import-open-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("import-open-error").textContent = "";
    var id = $("import-id").value.trim();
    if (!id) { $("import-open-error").textContent = "Type an import id."; return; }
    showImport(id);
  });

  $("import-refresh").addEventListener("click", function () { if (importState.shown) showImport(importState.shown); });

  function showImport(id) {
    clearTimeout(importState.timer);
    importState.shown = id;
    api("GET", "imports/" + encodeURIComponent(id)).then(function (report) {
      if (importState.shown !== id) return;
      renderImport(report);
      // running: look again in a moment, while this report is the one shown
      if (report.status === "running" && !$("imports").hidden) {
        importState.timer = setTimeout(function () { if (importState.shown === id) showImport(id); }, 2000);
      }
    }, function (error) {
      if (error.status === 401 || error.status === 403) return failed(error);
      $("import-report").hidden = true;
      $("import-open-error").textContent = error.status === 404 ? "No import " + id + "." : error.code + ": " + error.message;
    });
  }

  function renderImport(report) {
    $("import-report").hidden = false;
    $("import-report-title").textContent = "Import " + report.import_id;
    $("import-status").textContent = report.status === "done" ? "Done" : "Running…";
    $("import-lines").textContent = D.number(report.lines);
    $("import-imported").textContent = D.number(report.imported);
    $("import-skipped").textContent = D.number(report.skipped_existing);
    var count = report.error_count === undefined ? report.errors.length : report.error_count;
    $("import-error-count").textContent = D.number(count);
    $("import-errors-note").textContent = !count ? "No errors."
      : count > report.errors.length ? "The first " + report.errors.length + " of " + D.number(count) + " errors, by line." : "";
    D.fillRows($("import-errors").tBodies[0], report.errors.map(function (e) { return [String(e.line), e.code, e.message]; }));
  }

})();
