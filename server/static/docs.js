// Renders /openapi.json as a plain reference: operations grouped by tag, each with its
// parameters, request body and responses, schemas expanded from their components.
"use strict";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
};

function resolve(spec, schema) {
  const ref = schema && schema.$ref;
  return ref ? spec.components.schemas[ref.split("/").pop()] || {} : schema || {};
}

function typeName(spec, schema) {
  if (!schema) return "any";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const union = schema.anyOf || schema.oneOf;
  if (union) return union.map((s) => typeName(spec, s)).join(" | ");
  if (schema.type === "array") return `${typeName(spec, schema.items)}[]`;
  return schema.type || "any";
}

// One level of properties per call; nested objects open on demand (<details>) so cycles stay finite.
function schemaTree(spec, schema, depth = 0) {
  const target = resolve(spec, schema);
  const list = el("ul", { class: "schema" });
  const props = target.properties || {};
  const required = new Set(target.required || []);
  for (const [name, prop] of Object.entries(props)) {
    const item = el("li", {}, el("span", {}, name), " ",
      el("span", { class: "type" }, typeName(spec, prop)));
    if (required.has(name)) item.append(" ", el("span", { class: "req" }, "required"));
    const inner = resolve(spec, prop.items || (prop.anyOf || [])[0] || prop);
    if (depth < 6 && inner.properties && Object.keys(inner.properties).length) {
      const more = el("details", {}, el("summary", {}, "fields"));
      more.addEventListener("toggle", () => {
        if (more.open && more.children.length === 1) more.append(schemaTree(spec, inner, depth + 1));
      }, { once: true });
      item.append(more);
    }
    list.append(item);
  }
  if (!Object.keys(props).length) list.append(el("li", { class: "note" }, typeName(spec, schema)));
  if (target.additionalProperties !== false && target.type === "object") {
    list.append(el("li", { class: "note" }, "other fields allowed"));
  }
  return list;
}

function operationCard(spec, path, method, op) {
  const card = el("details", { class: "op", id: op.operationId });
  card.append(el("summary", {}, el("span", { class: `method ${method}` }, method), path,
    " ", el("span", { class: "note" }, op.summary || "")));
  if (op.parameters && op.parameters.length) {
    const rows = op.parameters.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)),
      el("td", {}, p.in), el("td", { class: "type" }, typeName(spec, p.schema)),
      el("td", {}, p.description || "")));
    card.append(el("h4", {}, "Parameters"), el("table", {}, ...rows));
  }
  if (op.requestBody) {
    for (const [media, body] of Object.entries(op.requestBody.content)) {
      card.append(el("h4", {}, `Body (${media})`), schemaTree(spec, body.schema));
      if (body.example !== undefined) {
        card.append(el("h4", {}, "Example"), el("pre", {}, JSON.stringify(body.example, null, 2)));
      }
    }
  }
  card.append(el("h4", {}, "Responses"));
  for (const [status, answer] of Object.entries(op.responses)) {
    const media = Object.entries(answer.content || {});
    const line = el("div", {}, el("strong", {}, status), " ", answer.description, " ",
      el("span", { class: "note" }, media.map(([m]) => m).join(", ")));
    const json = media.find(([m, c]) => m === "application/json" && c.schema && Object.keys(c.schema).length);
    if (json) line.append(schemaTree(spec, json[1].schema));
    card.append(line);
  }
  return card;
}

async function main() {
  const response = await fetch("/openapi.json");
  if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
  const spec = await response.json();
  document.getElementById("intro").textContent = `${spec.info.title} ${spec.info.version}: ${spec.info.description}`;
  const byTag = new Map();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, op]);
    }
  }
  const main = document.getElementById("operations");
  const toc = document.getElementById("toc");
  for (const [tag, ops] of byTag) {
    main.append(el("h2", { id: `tag-${tag}` }, tag));
    toc.append(el("h3", {}, tag));
    for (const [path, method, op] of ops) {
      main.append(operationCard(spec, path, method, op));
      toc.append(el("a", { href: `#${op.operationId}` }, `${method.toUpperCase()} ${path}`));
    }
  }
}

main().catch((error) => {
  const banner = document.getElementById("banner");
  banner.textContent = String(error);
  banner.hidden = false;
});
