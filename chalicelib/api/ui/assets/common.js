/* Dangol pages: what the console and the member page share.
   Requests go to this origin, relative to the page (so the pages also work under
   an API Gateway stage such as /api/console). No inline script: CSP script-src 'self'. */
"use strict";

window.Dangol = (function () {
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "className") node.className = attrs[name];
      else if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function ApiError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  /* fetch JSON with `Authorization: Bearer <secret>`; rejects with ApiError */
  function call(secret, method, path, body, extraHeaders) {
    var headers = { "Accept": "application/json" };
    if (secret) headers["Authorization"] = "Bearer " + secret;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
    return fetch(path, {
      method: method, headers: headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var error = (data && data.error) || {};
          throw new ApiError(response.status, error.code || "HTTP_" + response.status,
                             error.message || ("the request failed (" + response.status + ")"));
        }
        return data;
      });
    });
  }

  function newIdempotencyKey() {
    if (window.crypto && crypto.randomUUID) return "console-" + crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "console-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function number(value, locale) {
    return new Intl.NumberFormat(locale || "en-US").format(value);
  }

  /* an amount in the currency's smallest unit (KRW: won; USD: cents) as ₩1,234,000 */
  function money(value, currency, locale) {
    var format;
    try {
      format = new Intl.NumberFormat(locale || "ko-KR", { style: "currency", currency: currency || "KRW" });
    } catch (e) {
      return number(value, locale) + " " + currency;
    }
    var digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(value / Math.pow(10, digits));
  }

  /* the calendar day of an instant in a timezone (the program's), as YYYY-MM-DD */
  function day(instant, timezone) {
    if (!instant) return "";
    if (timezone) {
      try {
        return new Intl.DateTimeFormat("en-CA", { timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit" })
          .format(new Date(instant));
      } catch (e) { /* an unknown zone: UTC below */ }
    }
    return String(instant).slice(0, 10);
  }

  function when(instant) {
    return instant ? String(instant).replace("T", " ").replace("Z", " UTC") : "";
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function fillRows(tbody, rows) {
    clear(tbody);
    rows.forEach(function (cells) {
      tbody.appendChild(el("tr", {}, cells.map(function (cell) {
        return cell instanceof Node ? el("td", {}, [cell]) : el("td", { text: String(cell) });
      })));
    });
  }

  /* Progress toward the next tier: quarter spend over the next tier's min_spend. */
  function tierProgress(member) {
    if (!member.next_tier) return { percent: 100, target: null };
    var target = member.quarter_spend + member.next_tier.spend_needed;
    var percent = target > 0 ? Math.min(100, Math.floor(member.quarter_spend * 100 / target)) : 100;
    return { percent: percent, target: target };
  }

  return { el: el, call: call, ApiError: ApiError, newIdempotencyKey: newIdempotencyKey,
           number: number, money: money, day: day, when: when, clear: clear,
           fillRows: fillRows, tierProgress: tierProgress };
})();
