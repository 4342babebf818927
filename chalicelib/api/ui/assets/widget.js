/* The member page: a storefront hands its member a widget token (15 minutes, that
   member only). It arrives in the body of a form post (a meta element of this page)
   or is pasted; it is kept in this tab's sessionStorage, never in a URL. */
"use strict";

(function () {
  var D = window.Dangol, el = D.el;
  var TOKEN = "dangol.widgetToken", LANG = "dangol.lang";
  var TEXT = {
    ko: {
      title: "내 포인트", language: "언어", token_label: "위젯 토큰",
      token_help: "매장에서 받은 토큰을 붙여 넣으세요. 이 탭에만 보관됩니다.", open: "열기",
      balance: "포인트", points_unit: "P", tier: "등급", expiring: "30일 안에 소멸 예정",
      pending: "적립 예정 포인트", pending_help: "반품 기간이 지나면 사용할 수 있습니다.",
      available_on: function (day) { return day + "부터 사용 가능"; },
      expiring_none: "소멸 예정 포인트가 없습니다.", coupons: "사용 가능한 쿠폰",
      coupons_none: "사용 가능한 쿠폰이 없습니다.", history: "최근 거래 10건", when: "일시", type: "내용", points: "포인트",
      loading: "불러오는 중…", expired: "토큰이 만료되었거나 유효하지 않습니다. 매장에서 다시 열어 주세요.",
      top_tier: "최고 등급입니다", to_next: function (name, need) { return name + " 등급까지 " + need + " 남음"; },
      expires_on: function (day) { return day + " 소멸"; }, valid_until: function (day) { return day + "까지"; },
      code: "쿠폰 코드", qr: function (code) { return "쿠폰 코드 " + code + " QR 코드"; },
      types: { earn: "적립", bonus: "보너스", activity: "활동 적립", redeem: "사용", expire: "소멸", adjust: "조정",
               reversal: "취소", transfer_in: "선물 받음", transfer_out: "선물 보냄" },
      paste: "토큰을 붙여 넣으세요.", failed: "불러오지 못했습니다: ",
      suspended: "이 계정은 정지되었습니다. 매장에 문의해 주세요.",
      recommended: "추천 상품",
      offers: "진행 중인 혜택",
      offer: {
        multiplier: function (m) { return "포인트 " + m + "배 적립"; },
        bonus: function (points, minimum) { return (minimum ? minimum + " 이상 구매 시 " : "구매 시 ") + "보너스 " + points + " P (1회)"; },
        coupon: function () { return "캠페인 쿠폰 (아래 쿠폰에서 확인)"; },
        until: function (day) { return day + "까지"; }
      }
    },
    en: {
      title: "My points", language: "Language", token_label: "Widget token",
      token_help: "Paste the token the shop gave you. It stays in this tab only.", open: "Open",
      balance: "Points", points_unit: "pts", tier: "Tier", expiring: "Expiring in the next 30 days",
      pending: "Pending points", pending_help: "You can use them once the return window closes.",
      available_on: function (day) { return "usable from " + day; },
      expiring_none: "No points expire in the next 30 days.", coupons: "Available coupons",
      coupons_none: "No coupons available.", history: "Last 10 transactions", when: "When", type: "What", points: "Points",
      loading: "Loading…", expired: "This token has expired or is not valid. Open the page from the shop again.",
      top_tier: "You are in the top tier", to_next: function (name, need) { return need + " more to " + name; },
      expires_on: function (day) { return "expire on " + day; }, valid_until: function (day) { return "valid until " + day; },
      code: "Coupon code", qr: function (code) { return "QR code of coupon code " + code; },
      types: { earn: "Earned", bonus: "Bonus", activity: "Activity", redeem: "Redeemed", expire: "Expired", adjust: "Adjusted",
               reversal: "Reversed", transfer_in: "Gift received", transfer_out: "Gift sent" },
      paste: "Paste a token.", failed: "Could not load: ",
      suspended: "This account is suspended. Please contact the shop.",
      recommended: "Recommended for you",
      offers: "Your offers now",
      offer: {
        multiplier: function (m) { return m + "× points on purchases"; },
        bonus: function (points, minimum) { return points + " bonus points on " + (minimum ? "a purchase of " + minimum + " or more" : "your next purchase") + " (once)"; },
        coupon: function () { return "A campaign coupon (see your coupons below)"; },
        until: function (day) { return "until " + day; }
      }
    }
  };
  var data = null;

  function $(id) { return document.getElementById(id); }
  function lang() { return sessionStorage.getItem(LANG) || ((navigator.language || "ko").slice(0, 2) === "en" ? "en" : "ko"); }
  function t(name) { return TEXT[lang()][name]; }
  function locale() { return lang() === "ko" ? "ko-KR" : "en-US"; }

  function translate() {
    document.documentElement.lang = lang();
    $("lang").value = lang();
    Array.prototype.forEach.call(document.querySelectorAll("[data-t]"), function (node) {
      node.textContent = t(node.getAttribute("data-t"));
    });
    document.title = t("title");
    if (data) render();
  }

  /* a coupon code as a QR code, drawn as SVG rectangles (qrcode-generator, shipped in ui/) */
  function qrSvg(code) {
    var qr = qrcode(0, "M");
    qr.addData(code);
    qr.make();
    var count = qr.getModuleCount(), margin = 4, size = count + 2 * margin;
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + size + " " + size);
    svg.setAttribute("class", "qr");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("qr")(code));
    svg.setAttribute("data-code", code);
    svg.setAttribute("shape-rendering", "crispEdges");
    var background = document.createElementNS(ns, "rect");
    background.setAttribute("width", size); background.setAttribute("height", size); background.setAttribute("fill", "#fff");
    svg.appendChild(background);
    var path = "";
    for (var r = 0; r < count; r++) for (var c = 0; c < count; c++) {
      if (qr.isDark(r, c)) path += "M" + (c + margin) + " " + (r + margin) + "h1v1h-1z";
    }
    var dark = document.createElementNS(ns, "path");
    dark.setAttribute("d", path); dark.setAttribute("fill", "#000");
    svg.appendChild(dark);
    return svg;
  }

  function render() {
    var member = data.member, number = function (v) { return D.number(v, locale()); };
    /* the service says only whether the account is suspended (never why) */
    $("suspended").hidden = member.suspended !== true;
    $("balance").textContent = number(member.balance);
    $("tier").textContent = member.tier;
    var progress = D.tierProgress(member);
    $("progress").value = progress.percent;
    $("progress").textContent = progress.percent + "%";
    $("progress-label").textContent = member.next_tier
      ? t("to_next")(member.next_tier.name, D.money(member.next_tier.spend_needed, data.currency, locale())) + " (" + progress.percent + "%)"
      : t("top_tier");
    /* §25: points of purchases still inside the return window, soonest available first */
    var pending = member.pending || [];
    D.clear($("pending"));
    pending.forEach(function (lot) {
      $("pending").appendChild(el("li", {}, [el("strong", { text: number(lot.points) + " " + t("points_unit") }), " · " + t("available_on")(D.day(lot.available_at, data.timezone))]));
    });
    $("pending-card").hidden = pending.length === 0;
    D.clear($("expiring"));
    member.expiring.forEach(function (lot) {
      $("expiring").appendChild(el("li", {}, [el("strong", { text: number(lot.points) + " " + t("points_unit") }), " · " + t("expires_on")(D.day(lot.expires_at, data.timezone))]));
    });
    $("expiring-none").hidden = member.expiring.length > 0;
    D.clear($("coupons"));
    data.coupons.forEach(function (coupon) {
      $("coupons").appendChild(el("li", { className: "coupon" }, [
        el("div", {}, [
          el("strong", { text: coupon.name || coupon.template_id || "" }),
          el("p", { className: "help", text: t("valid_until")(D.day(coupon.expires_at, data.timezone)) }),
          el("p", {}, [t("code") + ": ", el("code", { className: "coupon-code", text: coupon.code })])
        ]),
        qrSvg(coupon.code)
      ]));
    });
    $("coupons-none").hidden = data.coupons.length > 0;
    /* §23: the member's recommended products (hidden when there are none) */
    D.clear($("recommended"));
    data.recommended.forEach(function (product) {
      $("recommended").appendChild(el("li", {}, [el("strong", { text: product.sku }), " · " + product.category]));
    });
    $("recommended-card").hidden = data.recommended.length === 0;
    /* §22: the member's running campaign offers (arms with a reward), with the member */
    var offers = member.offers || [];
    D.clear($("offers"));
    offers.forEach(function (offer) {
      var reward = offer.reward, text = t("offer");
      var what = reward.type === "multiplier" ? text.multiplier(reward.multiplier)
        : reward.type === "bonus" ? text.bonus(number(reward.points), reward.min_amount ? D.money(reward.min_amount, data.currency, locale()) : "")
        : text.coupon();
      $("offers").appendChild(el("li", { "data-campaign": offer.campaign_id }, [
        el("strong", { text: what }), " · " + text.until(D.day(offer.ends_at, data.timezone))]));
    });
    $("offers-card").hidden = offers.length === 0;
    D.fillRows($("history").tBodies[0], data.transactions.map(function (tx) {
      return [D.day(tx.created_at, data.timezone), t("types")[tx.type] || tx.type, (tx.points > 0 ? "+" : "") + number(tx.points)];
    }));
  }

  function signedOut(message) {
    sessionStorage.removeItem(TOKEN);
    data = null;
    $("member").hidden = true;
    $("token-form").hidden = false;
    $("token-error").textContent = message || "";
    $("status").textContent = "";
  }

  function load() {
    var token = sessionStorage.getItem(TOKEN);
    if (!token) return signedOut("");
    $("token-form").hidden = true;
    $("status").textContent = t("loading");
    var read = function (path) { return D.call(token, "GET", path); };
    Promise.all([read("widget/api/member"), read("widget/api/transactions?limit=10"),
                 read("widget/api/coupons?limit=20").catch(function (error) {
                   if (error.status === 401) throw error;
                   return { items: [] }; // coupons not offered by this service
                 }),
                 read("widget/api/recommendations").catch(function (error) {
                   if (error.status === 401) throw error;
                   return { items: [] }; // no recommendations: the list stays hidden
                 })]).then(function (answers) {
      data = { member: answers[0], transactions: answers[1].items.slice(0, 10), coupons: answers[2].items,
               recommended: answers[3].items.slice(0, 5),
               currency: answers[0].currency || "KRW", timezone: answers[0].timezone };
      $("member").hidden = false;
      $("status").textContent = "";
      render();
    }, function (error) {
      if (error.status === 401) signedOut(t("expired"));
      else $("status").textContent = t("failed") + error.message;
    });
  }

  $("lang").addEventListener("change", function () { sessionStorage.setItem(LANG, $("lang").value); translate(); });
  $("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var token = $("token").value.trim();
    if (!token) { $("token-error").textContent = t("paste"); return; }
    sessionStorage.setItem(TOKEN, token);
    $("token").value = "";
    load();
  });

  var posted = document.querySelector('meta[name="dangol-widget-token"]');
  if (posted && posted.content) {
    sessionStorage.setItem(TOKEN, posted.content);
    posted.parentNode.removeChild(posted);
  }
  translate();
  load();
})();
