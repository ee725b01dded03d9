// The sidebar buttons of the book's header (added to every page by _ext/vaelab_offline.py).
//
// Jupyter Book's theme (sphinx-book-theme) shows its own buttons for the chapter list and the page's contents, but
// both themes' scripts listen on the *first* .primary-toggle / .secondary-toggle of the page only: the header icon
// of pydata-sphinx-theme, which the book theme hides. The visible buttons did nothing, so on a phone the chapter
// list could not be opened. Clicks on the other buttons are handed to the first one, whose handlers open the
// sidebar as a dialog on a narrow screen and fold it away on a wide one.
document.addEventListener("DOMContentLoaded", () => {
  for (const kind of ["primary", "secondary"]) {
    const [handled, ...others] = document.querySelectorAll(`.${kind}-toggle`);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        handled.click();
      });
    }
  }
});
