// The upload page: send the files to POST /documents as a background job, then follow
// GET /jobs/{id} until the job ends, showing its progress and every file that failed.
(() => {
  const form = document.querySelector("form.upload");
  if (!form) return;
  const L = form.dataset;
  const box = document.getElementById("job");
  const status = box.querySelector(".status");
  const bar = box.querySelector("progress");
  const counts = box.querySelector(".counts");
  const errors = box.querySelector(".file-errors");
  const alert = box.querySelector(".error");
  const FINISHED = ["done", "failed", "interrupted"];

  const fail = (text) => {
    alert.textContent = text;
    alert.hidden = false;
    form.querySelector("button").disabled = false;
  };
  // a problem+json answer's detail, or the status line when the body is not JSON
  const reason = async (r) => {
    const body = await r.json().catch(() => null);
    return (body && (body.detail || body.title)) || `${r.status} ${r.statusText}`;
  };
  const show = (job) => {
    const p = job.progress;
    status.textContent = L[job.status] || job.status;
    bar.max = Math.max(p.total, 1);
    bar.value = p.done;
    counts.textContent = `${p.done} / ${p.total} ${L.progress} · ${p.indexed} ${L.indexed} · ` +
      `${p.unchanged} ${L.unchanged} · ${p.failed} ${L.failures} · ${p.passages} ${L.passages}`;
    errors.replaceChildren(...job.errors.map((e) => {
      const li = document.createElement("li");
      li.textContent = `${e.filename || e.source}: ${e.reason || e.code}`;
      return li;
    }));
    if (job.status === "failed" && job.error) fail(job.error);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    for (const file of form.elements.files.files) data.append("files", file);
    const metadata = {};
    for (const name of ["city", "country", "year"]) {
      const value = form.elements[name].value.trim();
      if (value) metadata[name] = name === "year" ? Number(value) : value;
    }
    if (Object.keys(metadata).length) data.append("metadata", JSON.stringify(metadata));
    const headers = form.elements.key ? { "X-API-Key": form.elements.key.value.trim() } : {};
    form.querySelector("button").disabled = true;
    alert.hidden = true;
    box.hidden = false;
    status.textContent = L.sending;
    let r;
    try {
      r = await fetch("/documents?background=true", { method: "POST", body: data, headers });
    } catch (e) {
      return fail(String(e));
    }
    if (!r.ok) return fail(await reason(r));
    let job = await r.json();
    const url = r.headers.get("Location") || `/jobs/${job.id}`;
    show(job);
    while (!FINISHED.includes(job.status)) {
      await new Promise((done) => setTimeout(done, 700));
      let next;
      try {
        next = await fetch(url, { headers });
      } catch (e) {
        return fail(String(e)); // the server went away: say so rather than wait forever
      }
      if (!next.ok) return fail(await reason(next));
      job = await next.json();
      show(job);
    }
    form.querySelector("button").disabled = false;
    const link = document.createElement("a");
    link.href = `/?ui=${encodeURIComponent(L.ui)}`;
    link.textContent = L.toSearch;
    status.append(" · ", link);
  });
})();
