// facesets serve: small progressive enhancements; every page works without them.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="facesets-token"]').content;

  // selection count, shift-click ranges, buttons that need a selection
  document.querySelectorAll("form").forEach(function (form) {
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
