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
