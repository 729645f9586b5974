// 呼应 staff console: small enhancements; every page also works without this file.
(function () {
  "use strict";

  // The agent's intake: caller history while the number is typed, the channel's own fields, Ctrl+Enter.
  function intake() {
    var form = document.getElementById("intake-form");
    if (!form) return;
    var phone = form.querySelector('[name="citizen.phone"]');
    var history = document.getElementById("history");
    var timer = null, last = "";
    function lookUp() {
      var number = phone.value.replace(/\s+/g, "");
      if (number === last || number.length < 7) return;
      last = number;
      fetch(history.dataset.url + "?phone=" + encodeURIComponent(number), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) { if (html && phone.value.replace(/\s+/g, "") === number) history.innerHTML = html; });
    }
    phone.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(lookUp, 250); });
    phone.addEventListener("change", lookUp);
    // the knowledge panel follows the subject and the category; 引用此答复 fills the on-the-spot answer
    var panel = document.getElementById("intake-knowledge");
    var subject = form.querySelector('[name="subject"]'), category = form.querySelector('[name="category"]');
    var knowledgeTimer = null, asked = "";
    function findKnowledge() {
      var query = "subject=" + encodeURIComponent(subject ? subject.value.trim() : "") +
        "&category=" + encodeURIComponent(category ? category.value.trim() : "");
      if (query === asked) return;
      asked = query;
      fetch(panel.dataset.url + "?" + query, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) { if (html && query === asked) panel.innerHTML = html; });
    }
    if (panel) {
      [subject, category].forEach(function (input) {
        if (!input) return;
        input.addEventListener("input", function () { clearTimeout(knowledgeTimer); knowledgeTimer = setTimeout(findKnowledge, 400); });
        input.addEventListener("change", findKnowledge);
      });
      if ((subject && subject.value) || (category && category.value)) findKnowledge();
      panel.addEventListener("click", function (event) {
        var cite = event.target.closest("button.cite-article");
        if (!cite) return;
        var reply = form.querySelector('[name="resolve_reply"]');
        reply.value = cite.dataset.answer;
        form.querySelector('[name="article"]').value = cite.dataset.article;
        document.getElementById("cited-article").hidden = false;
        reply.dispatchEvent(new Event("input", {bubbles: true}));  // kept in the draft like typing
        reply.focus();
      });
      form.querySelector('[name="resolve_reply"]').addEventListener("input", function (event) {
        if (event.isTrusted && this.value === "") {  // the cited answer cleared: no citation either
          form.querySelector('[name="article"]').value = "";
          document.getElementById("cited-article").hidden = true;
        }
      });
    }
    var channel = form.querySelector('[name="channel"]');
    function showChannel() {
      form.querySelectorAll(".channel-fields").forEach(function (box) {
        var mine = box.dataset.channel === channel.value;
        box.hidden = !mine;
        box.disabled = !mine;
      });
    }
    channel.addEventListener("change", showChannel);
    showChannel();
    form.addEventListener("keydown", function (e) {
      if (e.key !== "Enter" || e.isComposing) return;
      if (e.ctrlKey || e.metaKey) { e.preventDefault(); form.requestSubmit(); return; }
      var t = e.target;  // Enter moves on, as Tab does; only a text area takes a new line, only Ctrl+Enter submits
      if (t.tagName === "TEXTAREA" || t.tagName === "BUTTON" || e.shiftKey || e.altKey) return;
      e.preventDefault();
      var fields = Array.prototype.filter.call(form.elements, function (f) {
        return !f.disabled && f.type !== "hidden" && f.tagName !== "FIELDSET" && f.tagName !== "BUTTON" && f.offsetParent !== null;
      });
      var next = fields[fields.indexOf(t) + 1];
      if (next) next.focus();
    });
    drafts(form, phone);
    if (!phone.value) phone.focus();
  }

  // A call being written down is never lost: every keystroke is kept in this browser (per user) until
  // the order is recorded, and typing keeps the session alive. After an expired session and a new
  // sign-in, the intake page brings the call back.
  function drafts(form, phone) {
    var key = "huying:intake-draft:" + form.dataset.draft;
    var lastPing = Date.now();
    function save() {
      var values = {};
      Array.prototype.forEach.call(form.elements, function (f) {
        if (!f.name || f.name === "_csrf_token" || f.disabled) return;
        if (f.type === "checkbox" || f.type === "radio") { if (f.checked) (values[f.name] = values[f.name] || []).push(f.value); }
        else values[f.name] = f.value;
      });
      try { localStorage.setItem(key, JSON.stringify({saved: new Date().toISOString(), values: values})); } catch (e) { /* full or off */ }
      if (Date.now() - lastPing > 60000) {
        lastPing = Date.now();
        fetch("/console/keepalive", {credentials: "same-origin", cache: "no-store"});
      }
    }
    function restore(values) {
      var channel = form.querySelector('[name="channel"]');
      if (values.channel && channel) { channel.value = values.channel; channel.dispatchEvent(new Event("change")); }
      Array.prototype.forEach.call(form.elements, function (f) {
        if (!f.name || f.name === "_csrf_token" || f.name === "channel" || !(f.name in values)) return;
        if (f.type === "checkbox" || f.type === "radio") f.checked = values[f.name].indexOf(f.value) >= 0;
        else f.value = values[f.name];
      });
      if (phone.value) phone.dispatchEvent(new Event("change"));
    }
    var kept = null;
    try { kept = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { kept = null; }
    var typed = kept && Object.keys(kept.values).some(function (k) {
      return k !== "_submission" && k !== "channel" && k !== "kind" && k !== "priority" && String(kept.values[k]).trim();
    });
    if (typed && "fresh" in form.dataset) {
      restore(kept.values);
      document.getElementById("draft-saved").textContent = new Date(kept.saved).toLocaleString("zh-CN");
      var banner = document.getElementById("draft-banner");
      banner.hidden = false;
      document.getElementById("draft-discard").addEventListener("click", function () {
        localStorage.removeItem(key);
        window.location.href = "/console/intake";
      });
    }
    form.addEventListener("input", save);
    form.addEventListener("change", save);
  }

  // The order page after 受理 or 追加来电: the call is recorded, so its draft is done with.
  function draftDone() {
    var done = new URLSearchParams(window.location.search).get("done");
    if (done !== "受理" && done !== "受理并即时办结" && done !== "追加来电") return;
    var me = document.body.dataset.me;
    if (me) localStorage.removeItem("huying:intake-draft:" + me);
  }

  // A list at keyboard speed: j / k move between rows, Enter opens the row's order, x ticks it for a
  // bulk action. Keys typed into a field are the field's own.
  function rows() {
    var table = document.querySelector("table.list");
    if (!table) return;
    var items = Array.prototype.filter.call(table.querySelectorAll("tbody tr"), function (r) { return r.querySelector("a"); });
    if (!items.length) return;
    var at = -1;
    function go(i) {
      if (at >= 0) items[at].classList.remove("current");
      at = Math.max(0, Math.min(items.length - 1, i));
      items[at].classList.add("current");
      items[at].scrollIntoView({block: "nearest"});
    }
    document.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(t.tagName) || t.isContentEditable) return;
      if (e.key === "j") { e.preventDefault(); go(at + 1); }
      else if (e.key === "k") { e.preventDefault(); go(at - 1); }
      else if (e.key === "Enter" && at >= 0) { e.preventDefault(); items[at].querySelector("a").click(); }
      else if (e.key === "x" && at >= 0) {
        var box = items[at].querySelector("input.pick");
        if (box) { e.preventDefault(); box.click(); }
      }
    });
  }

  // Bulk selection: a running count and "select all".
  function bulk() {
    var all = document.getElementById("pick-all");
    var picked = document.getElementById("picked");
    if (!picked) return;
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input.pick"));
    function count() { picked.textContent = boxes.filter(function (b) { return b.checked; }).length; }
    boxes.forEach(function (b) { b.addEventListener("change", count); });
    if (all) all.addEventListener("change", function () { boxes.forEach(function (b) { b.checked = all.checked; }); count(); });
    count();
  }

  // Reply templates: fill the reply box with a chosen skeleton (the order's subject filled in).
  function templates() {
    document.querySelectorAll("button.template").forEach(function (button) {
      button.addEventListener("click", function () {
        var box = document.getElementById(button.dataset.target);
        var subject = button.closest(".templates").dataset.subject || "";
        if (!box) return;
        if (box.value.trim() && !window.confirm("用模板替换已写的答复？")) return;
        box.value = button.dataset.text.split("{subject}").join(subject);
        box.focus();
      });
    });
  }

  // An opened action form puts the cursor in its first input; a link to one (#action-NAME) opens it.
  function actions() {
    function opened() {
      var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
      if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView({block: "center"}); }
    }
    window.addEventListener("hashchange", opened);
    opened();
    document.querySelectorAll("details.action").forEach(function (d) {
      d.addEventListener("toggle", function () {
        if (!d.open) return;
        var first = d.querySelector("form input:not([type=hidden]), form select, form textarea");
        if (first) first.focus();
      });
    });
  }

  // Staff notices as they are delivered: the header's count goes up and the notice shows for a while.
  function notices() {
    var link = document.getElementById("notices");
    var count = document.getElementById("notice-count");
    var toasts = document.getElementById("notice-toasts");
    if (!link || !window.EventSource) return;
    var stream = new EventSource(link.dataset.stream);
    stream.addEventListener("open", function () { link.dataset.live = "on"; });
    stream.addEventListener("error", function () { link.dataset.live = "off"; });
    stream.addEventListener("notice", function (e) {
      var notice = JSON.parse(e.data);
      var n = parseInt(count.textContent, 10) || 0;
      count.textContent = n >= 99 ? "99+" : String(n + 1);
      count.hidden = false;
      var list = document.getElementById("notice-list");
      if (list) {
        var empty = document.getElementById("notice-empty");
        if (empty) empty.remove();
        var item = document.createElement("li");
        item.className = "new";
        var a = document.createElement("a");
        a.href = notice.href;
        a.textContent = notice.text;
        item.appendChild(a);
        list.insertBefore(item, list.firstChild);
      }
      if (toasts) {
        var toast = document.createElement("a");
        toast.className = "toast";
        toast.href = notice.href;
        toast.textContent = notice.text;
        toasts.appendChild(toast);
        setTimeout(function () { toast.remove(); }, 15000);
      }
    });
    window.addEventListener("pagehide", function () { stream.close(); });
  }

  // The wall board reads its figures again every so often (the page says how often).
  function board() {
    var page = document.getElementById("board");
    if (!page || !page.dataset.refresh) return;
    var seconds = parseInt(page.dataset.refresh, 10);
    setInterval(function () {
      fetch(window.location.href, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
          if (fresh) page.innerHTML = fresh.innerHTML;
        });
    }, seconds * 1000);
  }

    // The screen pop: a call answered at this user's extension opens the intake page with the caller's
  // number and history (filled in place when the intake form is open and still empty).
  function screenPop() {
    var url = document.body.dataset.live;
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("call.answered", function (e) {
      var call = JSON.parse(e.data);
      var form = document.getElementById("intake-form");
      var phone = form && form.querySelector('[name="citizen.phone"]');
      if (phone && !phone.value.trim()) {
        phone.value = call.number;
        document.getElementById("in-call-id").value = call.call_id;
        document.getElementById("call-number").textContent = call.number;
        document.getElementById("call-banner").hidden = false;
        phone.dispatchEvent(new Event("change"));
        return;
      }
      if (phone) {  // an order is being typed: offer the new call instead of dropping the form
        var banner = document.getElementById("call-banner");
        banner.innerHTML = "";
        var link = document.createElement("a");
        link.href = "/console/intake?call=" + encodeURIComponent(call.call_id);
        link.textContent = "新接听来电 " + call.number + "：点此受理";
        banner.appendChild(link);
        banner.hidden = false;
        return;
      }
      source.close();
      window.location.href = "/console/intake?call=" + encodeURIComponent(call.call_id);
    });
    // the callback desk: the PBX reported the 外呼's call (ringing, answered, ended): refresh its table
    source.addEventListener("callback.call", function (e) {
      var call = JSON.parse(e.data);
      var panel = document.getElementById("callback-calls");
      if (!panel || panel.dataset.order !== call.order) return;
      var note = document.getElementById("callback-note");
      if ((call.result === "no_answer" || call.result === "wrong_number") && !(note && note.value.trim())) {
        source.close();  // the attempt changed the callback (tries, retry, perhaps closed): show it whole
        window.location.href = "/console/orders/" + encodeURIComponent(call.order) + "?back=callbacks";
        return;
      }
      fetch("/console/callbacks/" + encodeURIComponent(call.order) + "/dials", {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("callback-calls");
          if (fresh) panel.innerHTML = fresh.innerHTML;
        });
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

    document.addEventListener("DOMContentLoaded", function () { draftDone(); intake(); rows(); bulk(); templates(); actions(); notices(); board(); screenPop(); });
})();
