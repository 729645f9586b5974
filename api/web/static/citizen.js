/* Small conveniences on the citizen pages; every page works without them.
   - A field declared "shown when" another field has a value is hidden until it has it
     (hidden inputs are not cleared: what was typed comes back if the citizen changes their mind).
   - "复制" copies the order number and query code on the confirmation page. */
(function () {
  "use strict";
  function valueOf(form, name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      if (el.type === "checkbox" && inputs.length === 1) return el.checked ? "true" : "false";
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked) return el.value === "yes" ? "true" : el.value === "no" ? "false" : el.value;
        continue;
      }
      return el.value;
    }
    return "";
  }
  function refresh(form) {
    var fields = form.querySelectorAll("[data-shown-when]");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      var shown = valueOf(form, f.getAttribute("data-shown-when")) === f.getAttribute("data-shown-value");
      f.hidden = !shown && !f.classList.contains("has-error");
    }
  }
  var forms = document.querySelectorAll("form[data-conditional]");
  for (var i = 0; i < forms.length; i++) {
    (function (form) {
      form.addEventListener("change", function () { refresh(form); });
      refresh(form);
    })(forms[i]);
  }
  var copy = document.getElementById("copy-receipt");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      var text = "工单编号：" + document.getElementById("order-number").textContent.trim() +
                 "\n查询码：" + document.getElementById("query-code").textContent.trim();
      navigator.clipboard.writeText(text).then(function () {
        document.getElementById("copy-done").hidden = false;
      });
    });
  }
})();
