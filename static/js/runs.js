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
