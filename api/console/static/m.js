// 呼应 phone pages (实地核实): the phone's position, and photos made smaller before they are sent.
// Every page also works without this file: the address is typed and the original photos go up.
(function () {
  "use strict";
  var LONG_SIDE = 1600, QUALITY = 0.8;

  function locate() {
    var button = document.getElementById("locate");
    if (!button || !navigator.geolocation) return;
    var status = document.getElementById("locate-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = "正在定位…";
      navigator.geolocation.getCurrentPosition(function (p) {
        var c = p.coords;
        document.getElementById("latitude").value = c.latitude.toFixed(6);
        document.getElementById("longitude").value = c.longitude.toFixed(6);
        document.getElementById("accuracy").value = Math.round(c.accuracy || 0);
        status.textContent = "已定位：北纬 " + c.latitude.toFixed(5) + "，东经 " + c.longitude.toFixed(5) +
          "（误差约 " + Math.round(c.accuracy || 0) + " 米）";
      }, function () {
        status.textContent = "无法定位（未允许或没有信号），请填写地址。";
      }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
    });
  }

  // One photo drawn again at most LONG_SIDE pixels on its long side, as JPEG.
  function shrink(file) {
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file), img = new Image();
      img.onload = function () {
        var scale = Math.min(1, LONG_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(img.naturalWidth * scale);
        canvas.height = Math.round(img.naturalHeight * scale);
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob(function (blob) {
          var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
          resolve(blob && blob.size < file.size ? new File([blob], name, {type: "image/jpeg"}) : file);
        }, "image/jpeg", QUALITY);
      };
      img.onerror = function () { URL.revokeObjectURL(url); resolve(file); };
      img.src = url;
    });
  }

  function photos() {
    var input = document.getElementById("photos");
    if (!input || typeof DataTransfer === "undefined" || !window.Promise) return;
    var kept = [], max = parseInt(input.dataset.max, 10) || 6;
    var status = document.getElementById("photo-status"), previews = document.getElementById("photo-previews");
    var submit = document.getElementById("record-submit");
    input.classList.add("behind");  // the big button above opens it; the status line says what was chosen
    input.addEventListener("change", function () {
      var chosen = Array.prototype.slice.call(input.files).slice(0, Math.max(0, max - kept.length));
      if (!chosen.length) { show(); return; }
      submit.disabled = true;
      status.textContent = "正在压缩照片…";
      var before = chosen.reduce(function (n, f) { return n + f.size; }, 0);
      Promise.all(chosen.map(shrink)).then(function (small) {
        kept = kept.concat(small);
        var after = small.reduce(function (n, f) { return n + f.size; }, 0);
        show();
        status.textContent = "已选 " + kept.length + " 张（本次 " + Math.round(before / 1024) + " KB → " +
          Math.round(after / 1024) + " KB），最多 " + max + " 张。";
        submit.disabled = false;
      });
    });
    function show() {
      var all = new DataTransfer();
      kept.forEach(function (f) { all.items.add(f); });
      input.files = all.files;
      previews.textContent = "";
      kept.forEach(function (f) {
        var li = document.createElement("li"), img = document.createElement("img");
        img.src = URL.createObjectURL(f);
        img.alt = f.name;
        img.width = img.height = 96;
        li.appendChild(img);
        previews.appendChild(li);
      });
    }
  }

  function once() {
    var form = document.getElementById("record-form");
    if (!form) return;
    form.addEventListener("submit", function () {
      var button = document.getElementById("record-submit");
      setTimeout(function () { button.disabled = true; button.textContent = "正在提交…"; }, 0);
    });
  }

  locate();
  photos();
  once();
})();
