// Figures on a narrow screen (added to every page by _ext/vaelab_offline.py).
//
// A figure is drawn for the book's text column; on a phone a multi-panel figure shrunk to the screen's width
// shows its labels at a third of their size. Below a readable scale such a figure keeps that scale instead and
// scrolls sideways inside its own box (the page itself never gets wider); on a wide screen nothing changes.
(() => {
  const READABLE = 0.6;  // the smallest share of its drawn size a figure is shown at on a narrow screen
  const NARROW = 768;  // px: phones and small tablets

  function fit(img) {
    if (!img.naturalWidth) return;
    let box = img.parentElement.classList.contains("vaelab-wide-figure") ? img.parentElement : null;
    if (box) {
      img.style.width = "";
      img.style.maxWidth = "";
    }
    const column = (box || img).parentElement.clientWidth;
    const wanted = Math.round(img.naturalWidth * READABLE);
    if (window.innerWidth > NARROW || wanted <= column) return;
    if (!box) {
      box = document.createElement("div");
      box.className = "vaelab-wide-figure";
      img.replaceWith(box);
      box.appendChild(img);
    }
    img.style.maxWidth = "none";
    img.style.width = `${wanted}px`;
  }

  function fitAll() {
    for (const img of document.querySelectorAll(".cell_output img, figure img")) {
      if (img.complete) fit(img);
      else img.addEventListener("load", () => fit(img), {once: true});
    }
  }

  document.addEventListener("DOMContentLoaded", fitAll);
  window.addEventListener("resize", fitAll);
})();
