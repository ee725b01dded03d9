/* vaelab: the Jupyter widget manager with the vendored require.js and MathJax 3, no network needed.
 *
 * Loaded just before require.js on pages that embed widgets (myst-nb's nb_ipywidgets_js in _config.yml), from
 * <book>/_static/, beside the vendored copies that scripts/vendor_assets.py unpacked there.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var here = script ? script.src.replace(/[^\/]*$/, "") : "";  // <book>/_static/

  // 1. require.js: place the widget manager's modules (@jupyter-widgets/base, controls, html-manager, all
  //    defined inside embed-amd.js) in _static/html-manager/. Each bundle takes its public path, where its CSS
  //    finds the font files, from its module's address, which is otherwise a folder beside the page. A
  //    `require` object defined before require.js loads is require.js's configuration.
  var dir = here + "html-manager";
  var config = {paths: {"@jupyter-widgets": dir, "@jupyter-widgets/html-manager/dist": dir}};
  if (typeof window.requirejs === "function") {
    window.requirejs.config(config);
  } else {
    window.require = config;
  }

  // 2. MathJax: the widget manager typesets labels with MathJax 2's MathJax.Hub.Queue(["Typeset", MathJax.Hub,
  //    element]); the book loads MathJax 3, which has no Hub. Map the call to MathJax 3's typesetPromise,
  //    chained on startup.promise as MathJax 3 asks. Widget labels write maths as $...$ (Jupyter's MathJax
  //    takes $ as a delimiter); the book's MathJax 3 takes only \(...\) and \[...\] (a $ in prose stays a
  //    dollar), so the labels' $ delimiters are rewritten first, in the widget's own text only.
  function dollarsToDelimiters(element) {
    var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    var node;
    while ((node = walker.nextNode())) {
      var text = node.nodeValue;
      if (text.indexOf("$") < 0) continue;
      node.nodeValue = text
        .replace(/\$\$([^$]+)\$\$/g, "\\[$1\\]")
        .replace(/(^|[^\\])\$([^$]+?)\$/g, "$1\\($2\\)");
    }
  }
  var hub = {
    Queue: function () {
      var mj = window.MathJax;
      var elements = [];
      for (var i = 0; i < arguments.length; i++) {
        var call = arguments[i];
        if (Array.isArray(call) && call[0] === "Typeset" && call[2] && call[2].nodeType === 1) {
          elements.push(call[2]);
        }
      }
      if (!mj || !mj.startup || !mj.startup.promise || typeof mj.typesetPromise !== "function") {
        return Promise.resolve();  // no MathJax 3 on this page: nothing to typeset
      }
      elements.forEach(dollarsToDelimiters);
      mj.startup.promise = mj.startup.promise.then(function () {
        return elements.length ? mj.typesetPromise(elements) : null;
      });
      return mj.startup.promise;
    }
  };
  // MathJax 3 (a deferred script) replaces window.MathJax, its configuration, when it runs: add Hub to the
  // object it leaves, before the widgets render (they wait for the page's load event).
  document.addEventListener("DOMContentLoaded", function () {
    if (window.MathJax && !window.MathJax.Hub) {
      window.MathJax.Hub = hub;
    }
  });
})();
