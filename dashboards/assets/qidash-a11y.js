// Accessibility fixes to the DOM that Dash's components draw (issue 17, WCAG 2.2 AA). Each one
// only sets attributes, and is applied again whenever React redraws the element.
//
// * dcc.Dropdown (Dash 4): its Tab stop is a hidden, aria-hidden <input> that hands focus to
//   the real button (a Safari workaround), so a focusable element is hidden from screen
//   readers (axe: aria-hidden-focus). The button itself becomes the Tab stop, and its name
//   starts with the field's label ("Period 2021-22", not just "2021-22").
// * Its open list: the options are <label role=option> around a focusable radio or checkbox
//   (axe: nested-interactive; and the listbox has no name). Keyboard focus moves between those
//   inputs, so the list is exposed as what it works as: a named group of radio buttons (or
//   checkboxes for a multi-select), each named by its label.
// * A radio or checkbox group (dbc.RadioItems, dbc.Checklist) after a <label> with no "for"
//   becomes a radiogroup/group named by that label ("Confidence: 95%, 99.8%").
// * dcc.Upload's file input is named by the label of its field.
// * A chart (dcc.Graph) is a figure named by its title and described by the page's summary
//   sentence for it ("<prefix>-summary", or the SPC badges "<prefix>-badges"); its data table
//   is the page's table view or the grid beside it.
(function () {
  "use strict";

  function setAttr(el, name, value) {
    if (el.getAttribute(name) !== value) { el.setAttribute(name, value); }
  }

  function ensureId(el, fallback) {
    if (!el.id) { el.id = fallback; }
    return el.id;
  }

  // The visible label of a control: <label for=id>, else a label or heading just before it.
  function labelFor(id, anchor) {
    if (id) {
      const byFor = document.querySelector('label[for="' + CSS.escape(id) + '"]');
      if (byFor) { return byFor; }
    }
    let prev = anchor ? anchor.previousElementSibling : null;
    while (prev && prev.matches("br")) { prev = prev.previousElementSibling; }
    if (prev && prev.matches("label, h1, h2, h3, h4, h5, h6, legend")) { return prev; }
    return null;
  }

  let counter = 0;
  function labelId(label, base) {
    counter += 1;
    return ensureId(label, (base || "qd-label") + "-label-" + counter);
  }

  function fixDropdown(wrapper) {
    const target = wrapper.querySelector(":scope > .dash-dropdown-focus-target");
    const button = wrapper.querySelector(":scope > button.dash-dropdown");
    if (!button) { return; }
    if (target) { setAttr(target, "tabindex", "-1"); }
    if (!button.disabled) { setAttr(button, "tabindex", "0"); }
    const label = labelFor(button.id, wrapper);
    if (label) {
      const lid = labelId(label, button.id);
      const current = (button.getAttribute("aria-labelledby") || "").split(/\s+/)
        .filter(function (x) { return x && x !== lid; });
      setAttr(button, "aria-labelledby", [lid].concat(current).join(" "));
    }
  }

  function fixDropdownContent(content) {
    const button = content.id
      ? document.querySelector('button[aria-controls="' + CSS.escape(content.id) + '"]') : null;
    const list = content.querySelector(".dash-options-list");
    const label = button ? labelFor(button.id, button.parentElement) : null;
    const lid = label ? labelId(label, button.id) : null;
    if (lid) { setAttr(content, "aria-labelledby", lid); }
    const search = content.querySelector("input.dash-dropdown-search");
    if (search && label) {
      setAttr(search, "aria-label", "Search " + label.textContent.trim());
    }
    if (!list) { return; }
    const multi = list.querySelector("input[type=checkbox]") !== null;
    setAttr(list, "role", multi ? "group" : "radiogroup");
    if (lid) { setAttr(list, "aria-labelledby", lid); }
    list.querySelectorAll("[role=option], [aria-selected]").forEach(function (opt) {
      opt.removeAttribute("role");
      opt.removeAttribute("aria-selected");
    });
  }

  function fixChoiceGroup(group) {
    const first = group.querySelector("input[type=radio], input[type=checkbox]");
    if (!first) { return; }
    const label = labelFor(null, group);
    if (!label || label.htmlFor) { return; }
    setAttr(group, "role", first.type === "radio" ? "radiogroup" : "group");
    setAttr(group, "aria-labelledby", labelId(label, group.id));
  }

  function fixFileInput(input) {
    if (input.getAttribute("aria-label") || input.getAttribute("aria-labelledby")) { return; }
    let field = input.parentElement;
    while (field && !field.id) { field = field.parentElement; }
    const label = field ? labelFor(field.id, field) : null;
    if (label) { setAttr(input, "aria-labelledby", labelId(label, field.id)); }
    else { setAttr(input, "aria-label", "Choose a file"); }
  }

  function fixGraph(graph) {
    const title = graph.querySelector(".gtitle");
    if (title) {
      const holder = document.createElement("div");
      holder.innerHTML = (title.getAttribute("data-unformatted") || title.textContent)
        .replace(/<br\s*\/?>/gi, ". ");
      setAttr(graph, "aria-label", holder.textContent.replace(/\s+/g, " ").trim());
    }
    setAttr(graph, "role", "figure");
    const prefix = graph.id ? graph.id.replace(/-graph$/, "") : null;
    if (!prefix) { return; }
    const describedBy = ["summary", "badges"].map(function (k) { return prefix + "-" + k; })
      .filter(function (id) { return document.getElementById(id); });
    if (describedBy.length) { setAttr(graph, "aria-describedby", describedBy.join(" ")); }
  }

  function fixAll(root) {
    root.querySelectorAll(".dash-graph").forEach(fixGraph);
    root.querySelectorAll(".dash-dropdown-wrapper").forEach(fixDropdown);
    root.querySelectorAll(".dash-dropdown-content").forEach(fixDropdownContent);
    root.querySelectorAll("input[type=file]").forEach(fixFileInput);
    root.querySelectorAll("label + div[id]").forEach(fixChoiceGroup);
  }

  let scheduled = false;
  function schedule() {
    if (scheduled) { return; }
    scheduled = true;
    // a microtask: after React's commit, before the browser paints or a test looks
    queueMicrotask(function () { scheduled = false; fixAll(document); });
  }

  function start() {
    fixAll(document);
    new MutationObserver(schedule).observe(document.body, {
      childList: true, subtree: true, attributes: true,
      attributeFilter: ["tabindex", "role", "aria-selected", "aria-controls",
                        "aria-labelledby"],
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
