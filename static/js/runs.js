// Runs pages: close the side sheet / drawer that htmx loaded into #sheet (Close, Cancel,
// the backdrop, Escape via evalsite.js) instead of following the link; move focus into a
// freshly opened sheet. Without JavaScript the same links simply navigate.
document.addEventListener("click", (event) => {
  const closer = event.target.closest("[data-close-sheet]");
  const holder = document.getElementById("sheet");
  if (!closer || !holder || !holder.contains(closer)) return;
  event.preventDefault();
  holder.innerHTML = "";
});
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target && event.detail.target.id === "sheet") {
    const panel = event.detail.target.querySelector(".sheet, .drawer");
    const first = panel && panel.querySelector("[autofocus], input, select, a, button");
    if (first) first.focus();
  }
});
// Keep keyboard focus inside an open sheet or drawer (a modal dialog): Tab from the last
// focusable element goes to the first, Shift+Tab from the first to the last.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Tab") return;
  const panel = document.querySelector("#sheet .sheet, #sheet .drawer");
  if (!panel) return;
  const focusable = [...panel.querySelectorAll(
    "a[href], button:not([disabled]):not([tabindex='-1']), input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea, summary, [tabindex='0']"
  )].filter((el) => el.offsetParent !== null);
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (!panel.contains(document.activeElement)) {
    event.preventDefault();
    first.focus();
  } else if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
});
// Results table: columns the user hid, remembered per run in this browser (localStorage).
function hiddenColumnsKey(section) { return "evalsite:hidden-columns:" + section.dataset.run; }
function readHidden(section) {
  try { return new Set(JSON.parse(localStorage.getItem(hiddenColumnsKey(section)) || "[]")); }
  catch (e) { return new Set(); }
}
function applyHiddenColumns(section) {
  const hidden = readHidden(section);
  section.querySelectorAll("[data-col]").forEach((cell) => {
    cell.hidden = hidden.has(cell.dataset.col);
  });
  section.querySelectorAll("[data-col-toggle]").forEach((box) => {
    box.checked = !hidden.has(box.dataset.colToggle);
  });
}
document.addEventListener("change", (event) => {
  const box = event.target.closest("[data-col-toggle]");
  const section = box && box.closest("#results[data-run]");
  if (!section) return;
  const hidden = readHidden(section);
  if (box.checked) hidden.delete(box.dataset.colToggle); else hidden.add(box.dataset.colToggle);
  try { localStorage.setItem(hiddenColumnsKey(section), JSON.stringify([...hidden])); } catch (e) { /* private mode */ }
  applyHiddenColumns(section);
});
function applyAllHiddenColumns() {
  document.querySelectorAll("#results[data-run]").forEach(applyHiddenColumns);
}
document.addEventListener("DOMContentLoaded", applyAllHiddenColumns);
document.addEventListener("htmx:afterSettle", applyAllHiddenColumns);
// Row drawer: previous / next row with the keyboard (← → or k j), outside text fields.
document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const drawer = document.querySelector("#sheet .drawer");
  if (!drawer || event.target.closest("input, textarea, select, [contenteditable]")) return;
  const which = { ArrowLeft: "previous", k: "previous", ArrowRight: "next", j: "next" }[event.key];
  const link = which && drawer.querySelector(`[data-row-nav="${which}"]`);
  if (link) {
    event.preventDefault();
    link.click();
  }
});
// Runs list: once a run is ticked for comparison, runs on other dataset versions (which
// cannot be compared with it) are disabled.
document.addEventListener("change", (event) => {
  const box = event.target.closest("input[name=runs][data-dataset-version]");
  if (!box) return;
  const boxes = [...document.querySelectorAll("input[name=runs][data-dataset-version]")];
  const picked = boxes.find((b) => b.checked);
  boxes.forEach((b) => {
    const other = picked && b.dataset.datasetVersion !== picked.dataset.datasetVersion;
    b.disabled = Boolean(other);
    b.title = other ? "On another dataset version: not comparable with the ticked run" : "";
  });
});
