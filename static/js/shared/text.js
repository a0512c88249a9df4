// The pages' words for scripts: templates translate every sentence a script shows
// ({% translate %} into a data-msg-* / data-text-* attribute), with named {placeholders} where
// a value goes, so a translator moves the value to where their language wants it. Scripts hold
// no user-visible words of their own; tests/test_static_js.py checks that.

export function fill(template, values = {}) {
  return String(template ?? "").replace(/\{(\w+)\}/g, (whole, name) =>
    name in values ? String(values[name]) : whole,
  );
}
