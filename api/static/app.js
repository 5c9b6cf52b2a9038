// A little progressive enhancement: filters apply at once, and the UI language sticks in a cookie.
document.querySelectorAll("form.search select, form.search details.choose input").forEach((sel) => {
  sel.addEventListener("change", () => {
    const form = sel.form;
    if (form.querySelector("input[name=q]").value.trim()) form.submit();
  });
});
document.querySelectorAll(".ui-lang a").forEach((a) => {
  a.addEventListener("click", () => {
    document.cookie = "nordsearch_ui=" + a.dataset.ui + "; path=/; max-age=31536000; samesite=lax";
  });
});
