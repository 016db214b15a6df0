// Small DOM helpers. Every text goes in as a text node: the page never parses a string as HTML.

export const $ = (id) => document.getElementById(id);

// el('td', {class: 'x', 'data-label': 'Name'}, 'text', childNode, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  node.replaceChildren();
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

// Shows `message` in the error paragraph `node` (or hides it when empty).
export function showError(node, message) {
  node.textContent = message || '';
  node.hidden = !message;
}

export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return date.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

// Opens a <dialog> as modal and gives focus back to whatever had it when it closes.
export function openDialog(dialog, focus) {
  const before = document.activeElement;
  dialog.addEventListener('close', () => {
    if (before && document.contains(before)) before.focus();
  }, { once: true });
  dialog.showModal();
  if (focus) focus.focus();
}

// Every [data-close] button closes its dialog.
export function wireDialogs() {
  for (const button of document.querySelectorAll('dialog [data-close]')) {
    button.addEventListener('click', () => button.closest('dialog').close());
  }
}

let flashTimer;
// A short message in the page's status line.
export function flash(message) {
  const node = $('flash');
  node.textContent = message;
  node.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { node.hidden = true; }, 6000);
}
