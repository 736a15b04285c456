// The little JavaScript the pages need; everything works without it except live updates.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const closer = document.querySelector(".sheet [data-close], .drawer [data-close]");
  if (closer) closer.click();
});
