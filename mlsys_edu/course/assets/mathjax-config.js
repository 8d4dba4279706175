// MathJax settings for pymdownx.arithmatex (generic mode), re-typeset on instant navigation.
// Assistive MathML stays on: next to each rendered formula MathJax keeps a hidden MathML copy
// that screen readers read (WCAG 1.1.1); the accessibility menu is left to the reader.
window.MathJax = {
  tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true },
  options: {
    ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex",
    menuOptions: { settings: { assistiveMml: true } }
  }
};
if (typeof document$ !== "undefined") {
  document$.subscribe(() => { if (window.MathJax && MathJax.typesetPromise) { MathJax.typesetPromise(); } });
}
