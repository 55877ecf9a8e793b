// facesets serve: small progressive enhancements; every page works without them.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="facesets-token"]').content;

  // selection count, shift-click ranges, buttons that need a selection (again after htmx swaps a form in)
  const selectable = function (root) {
    root.querySelectorAll("form").forEach(function (form) {
      if (form.dataset.selectable) return;
      form.dataset.selectable = "1";
      enableSelection(form);
    });
  };
  const enableSelection = function (form) {
    const boxes = Array.from(form.querySelectorAll('input[type=checkbox][name=face], input[type=checkbox][name=person]'));
    if (!boxes.length) return;
    const counter = document.getElementById("selected-count");
    let last = null;
    const update = function () {
      const n = boxes.filter(b => b.checked).length;
      if (counter) counter.textContent = n;
      form.querySelectorAll("[data-needs-selection]").forEach(b => { b.disabled = n === 0; });
    };
    boxes.forEach(function (box, i) {
      box.addEventListener("click", function (ev) {
        if (ev.shiftKey && last !== null) {
          const [a, b] = [Math.min(last, i), Math.max(last, i)];
          for (let k = a; k <= b; k++) boxes[k].checked = box.checked;
        }
        last = i;
        update();
      });
    });
    form.querySelectorAll("[data-select]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        boxes.forEach(b => { b.checked = button.dataset.select === "all"; });
        update();
      });
    });
    update();
  };
  selectable(document);
  document.body.addEventListener("htmx:load", function (ev) { selectable(ev.detail.elt.parentNode || document); });

  // an action's message goes as soon as the next action starts (the answer brings the new one)
  document.body.addEventListener("htmx:beforeRequest", function () {
    const flash = document.getElementById("flash");
    if (flash) flash.replaceChildren();
  });

  // the review queue: one key per decision, sent on key down, so the next item is there when
  // the key comes up. A key pressed while an answer is on its way, or before htmx has taken the
  // new item's form over (it does so as the swap settles), waits for it: a plain form post
  // would load the page.
  const review = document.getElementById("review");
  if (review) {
    let busy = false, waiting = null;
    const ready = function (button) {   // htmx set the form up (its own bookkeeping says so)
      const data = button.form && button.form["htmx-internal-data"];
      return !busy && data && data.initHash;
    };
    const press = function (key) {
      if (key === "?") {
        const help = document.getElementById("keys-help");
        help.hidden = !help.hidden;
        return true;
      }
      const button = document.querySelector('#review-item [data-key="' + key + '"]');
      if (!button || button.disabled) return false;
      if (!ready(button)) { waiting = key; return true; }
      button.click();
      return true;
    };
    const replay = function () {
      if (waiting !== null && !busy) { const key = waiting; waiting = null; press(key); }
    };
    document.addEventListener("keydown", function (ev) {
      if (ev.repeat || ev.ctrlKey || ev.altKey || ev.metaKey) return;
      if (ev.target.closest && ev.target.closest("input, textarea, select")) return;
      if (press(ev.key.length === 1 ? ev.key.toLowerCase() : ev.key)) ev.preventDefault();
    });
    document.getElementById("keys-toggle").addEventListener("click", function () { press("?"); });
    review.addEventListener("htmx:beforeRequest", function () { busy = true; });
    review.addEventListener("htmx:afterRequest", function (ev) { if (!ev.detail.successful) busy = false; });
    document.body.addEventListener("htmx:afterSettle", function () { busy = false; replay(); });
    document.body.addEventListener("htmx:load", replay);
  }

  // the photo view: drag a box around a face the detector missed
  document.addEventListener("pointerdown", function (ev) {
    const canvas = ev.target.closest && ev.target.closest("#photo-canvas");
    if (!canvas || ev.button !== 0 || ev.target.closest("a.box")) return;
    ev.preventDefault();
    const image = canvas.querySelector("img"), box = canvas.querySelector("#drawing");
    const area = image.getBoundingClientRect();
    const at = function (e) {
      return [Math.min(1, Math.max(0, (e.clientX - area.left) / area.width)),
              Math.min(1, Math.max(0, (e.clientY - area.top) / area.height))];
    };
    const start = at(ev);
    let end = start;
    const show = function () {
      box.hidden = false;
      box.style.left = 100 * Math.min(start[0], end[0]) + "%";
      box.style.top = 100 * Math.min(start[1], end[1]) + "%";
      box.style.width = 100 * Math.abs(end[0] - start[0]) + "%";
      box.style.height = 100 * Math.abs(end[1] - start[1]) + "%";
    };
    const move = function (e) { end = at(e); show(); };
    const up = function (e) {
      document.removeEventListener("pointermove", move);
      document.removeEventListener("pointerup", up);
      end = at(e);
      if (Math.abs(end[0] - start[0]) * area.width < 8 || Math.abs(end[1] - start[1]) * area.height < 8) {
        box.hidden = true;
        return;
      }
      htmx.ajax("POST", canvas.dataset.drawUrl, {
        target: "#photo-view", swap: "outerHTML", headers: {"X-Facesets-Token": token},
        values: {x1: Math.min(start[0], end[0]), y1: Math.min(start[1], end[1]),
                 x2: Math.max(start[0], end[0]), y2: Math.max(start[1], end[1])}});
    };
    document.addEventListener("pointermove", move);
    document.addEventListener("pointerup", up);
  });

  // progress of a background job (export, re-cluster)
  const job = document.getElementById("job");
  if (job && job.dataset.status === "running") {
    const poll = function () {
      fetch("/jobs/" + job.dataset.jobId, {headers: {"X-Facesets-Token": token}})
        .then(r => r.json())
        .then(function (j) {
          const bar = document.getElementById("job-progress");
          if (j.total) { bar.max = j.total; bar.value = j.done; }
          document.getElementById("job-status").textContent = j.status;
          document.getElementById("job-phase").textContent = j.phase + (j.total ? " " + j.done + "/" + j.total : "");
          document.getElementById("job-message").textContent = j.message;
          job.dataset.status = j.status;
          if (j.status === "running") setTimeout(poll, 500);
          else if (j.status === "done") { bar.max = 1; bar.value = 1; }
        })
        .catch(() => setTimeout(poll, 2000));
    };
    poll();
  }
})();
