// The little JavaScript the pages need; everything works without it except live updates.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const closer = document.querySelector(".sheet [data-close], .drawer [data-close]");
  if (closer) closer.click();
});
// Forms that undo work ask first (Cancel a run): <form data-confirm="question">.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
