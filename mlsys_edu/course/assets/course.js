// Keyboard access to scrolling regions (WCAG 2.1.1): a code block, a table or a cell output
// wider than the page scrolls sideways, so it must take the focus, or a keyboard user cannot
// scroll it. mkdocs-material gives a code block tabindex="0" only while it measures it as
// overflowing, and takes it away again when it measures otherwise (its measure depends on when
// the fonts and the layout settle); every such region here keeps it, whatever the measure.
const mlsysScrollers = ".md-typeset pre > code, .md-typeset table:not([class]), .mlsys-output";
const mlsysKeepFocusable = new MutationObserver((records) => {
  records.forEach((r) => { if (!r.target.hasAttribute("tabindex")) { r.target.setAttribute("tabindex", "0"); } });
});
function mlsysFocusableScrollers() {
  document.querySelectorAll(mlsysScrollers).forEach((el) => {
    el.setAttribute("tabindex", "0");
    mlsysKeepFocusable.observe(el, { attributes: true, attributeFilter: ["tabindex"] });
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(mlsysFocusableScrollers);
} else {
  document.addEventListener("DOMContentLoaded", mlsysFocusableScrollers);
}
