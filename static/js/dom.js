// Small DOM and fetch helpers shared by the page scripts. Text always goes in through
// textContent (never an HTML string), so corpus text and generated words can never become markup.

export function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
  for (const [name, value] of Object.entries(options.attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

export function setText(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text === null || text === undefined ? "" : String(text);
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = { error: `The server answered ${response.status} ${response.statusText}.` };
  }
  if (!response.ok) {
    const error = new Error(body.error || `The server answered ${response.status}.`);
    error.errors = body.errors || {};
    error.status = response.status;
    throw error;
  }
  return body;
}

export async function getJSON(url) {
  return answer(await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }));
}

export async function postJSON(url, body = {}) {
  return answer(await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  }));
}

export const FINAL_STATES = ["finished", "failed", "cancelled"];

export function setState(node, state) {
  if (!node) return;
  node.textContent = state;
  node.className = `state state-${state}`;
}
