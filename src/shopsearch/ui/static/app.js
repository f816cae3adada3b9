// The merchandiser's page: plain DOM code over shopsearch's JSON API. Text from the catalogue is
// only ever inserted as text nodes (never as HTML), so product data cannot inject markup.

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 10;
const CANONICAL = new Set(["id", "title", "description", "brand", "category", "price"]);
const IMAGE_FIELDS = ["image_url", "image", "thumbnail", "img"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// ---- API ---------------------------------------------------------------------------------
async function api(path, body, { quiet = false, method = body === undefined ? "GET" : "POST" } = {}) {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem("shopsearch-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, body === undefined ? { method, headers } : { method, headers, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    // 401: no key or a wrong one; 403: a key without the admin scope (analytics). Either way, ask for one.
    if ((response.status === 401 || response.status === 403) && !quiet) $("key-form").hidden = false;
    const error = new Error(data.error?.message || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.param = data.error?.param;
    throw error;
  }
  return data;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? error.message : "";
  box.hidden = !error;
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("shopsearch-key", $("api-key").value.trim());
  $("key-form").hidden = true;
  showError(null);
  // A search from a link that the key was missing for runs now.
  if (state.query && !shown && $("tab-search").getAttribute("aria-selected") === "true") runSearch({ history: "none" });
  if ($("tab-analytics").getAttribute("aria-selected") === "true") loadAnalytics();
  applyScope();
});

// A search-only key (a shop's front-end key) sees only the tabs it can use: GET /v1/key says which it is.
async function applyScope() {
  let scope = "admin";
  try {
    scope = (await api("/v1/key", undefined, { quiet: true })).scope;
  } catch (error) {
    if (error.status !== 401) return; // no key yet: show everything until one is given
  }
  for (const tab of tabs) {
    tab.hidden = tab.dataset.scope === "admin" && scope !== "admin";
    if (tab.hidden && tab.getAttribute("aria-selected") === "true") selectTab($("tab-search"), false);
  }
}

// ---- tabs (WAI-ARIA tabs: arrows move between tabs, Tab goes into the panel) ------------------
const tabs = [...document.querySelectorAll("[role=tab]")];
function selectTab(tab, focus = true) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) tab.focus();
  onTabShown[tab.id]?.();
}
for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {
    const shown = tabs.filter((t) => !t.hidden);
    const i = shown.indexOf(tab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: shown.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    selectTab(shown[(next + shown.length) % shown.length]);
  });
}

// ---- shared rendering ------------------------------------------------------------------------
function highlighted(text, spans = [], limit = Infinity) {
  // Spans are [start, end) character offsets computed by the server's analyzer.
  const fragment = document.createDocumentFragment();
  const shown = text.length > limit ? text.slice(0, limit) : text;
  let at = 0;
  for (const [start, end] of spans) {
    if (start >= shown.length) break;
    fragment.append(shown.slice(at, start), el("mark", { text: shown.slice(start, Math.min(end, shown.length)) }));
    at = Math.min(end, shown.length);
  }
  fragment.append(shown.slice(at) + (shown.length < text.length ? "…" : ""));
  return fragment;
}

const money = (value) => (typeof value === "number" ? value.toLocaleString(undefined, { style: "currency", currency: "EUR" }) : "");
const fixed = (value, digits = 3) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

function imageOf(item) {
  for (const name of IMAGE_FIELDS) {
    const value = item[name];
    if (typeof value === "string" && /^(https?:\/\/|\/)/.test(value)) return value;
  }
  return null;
}

function searchBody(query, modeChoice, weight, extra = {}) {
  const rerank = modeChoice === "hybrid+rerank";
  const mode = rerank ? "hybrid" : modeChoice;
  const body = { query, mode, ...extra };
  if (mode === "hybrid") body.vector_weight = Number(weight);
  body.rerank = rerank; // explicit: a server with a reranker would otherwise rerank every search
  return body;
}

// ---- search ----------------------------------------------------------------------------------
// The search's state lives in the address (q, mode, weight, sort, page, understand, why, filter.FIELD,
// range.FIELD), so a link reproduces a search and Back/Forward walk through earlier ones.
const DEFAULT_WEIGHT = 0.2;
const MODES = ["hybrid", "keyword", "vector", "hybrid+rerank"];
const RANGE_OPS = ["gte", "gt", "lte", "lt"];
const FACET_FIELDS = ["brand", "category"]; // their filters show as ticked boxes, the others as chips
const emptyFilters = () => ({ terms: new Map(), ranges: new Map() });
const state = { query: "", mode: "hybrid", weight: DEFAULT_WEIGHT, sort: "relevance", page: 0, understand: true, why: false,
  filters: emptyFilters() };
let shown = null; // what is on screen: { sort, status, understood } of the last answer shown
let searchSeq = 0; // only the newest search's answer is shown

function termSet(filters, field) {
  let values = filters.terms.get(field);
  if (!values) filters.terms.set(field, (values = new Set()));
  return values;
}

function copyFilters(filters) {
  const copy = emptyFilters();
  for (const [field, values] of filters.terms) copy.terms.set(field, new Set(values));
  for (const [field, bounds] of filters.ranges) copy.ranges.set(field, { ...bounds });
  return copy;
}

const rangeOnly = (bounds) => Object.fromEntries(RANGE_OPS.filter((op) => typeof bounds?.[op] === "number").map((op) => [op, bounds[op]]));

function narrower(a, b) {
  // Both ranges at once: the higher lower bounds, the lower upper bounds.
  const out = { ...a };
  for (const op of RANGE_OPS) {
    if (typeof b[op] !== "number") continue;
    out[op] = typeof out[op] !== "number" ? b[op] : op.startsWith("g") ? Math.max(out[op], b[op]) : Math.min(out[op], b[op]);
  }
  return out;
}

function filtersBody() {
  const filters = {};
  for (const [field, values] of state.filters.terms) if (values.size) filters[field] = [...values];
  for (const [field, bounds] of state.filters.ranges) {
    const range = rangeOnly(bounds);
    if (Object.keys(range).length) filters[field] = range;
  }
  return Object.keys(filters).length ? filters : undefined;
}

function paramsOf(s) {
  const params = new URLSearchParams();
  params.set("q", s.query);
  if (s.mode !== "hybrid") params.set("mode", s.mode);
  if (Number(s.weight) !== DEFAULT_WEIGHT) params.set("weight", String(Number(s.weight)));
  if (s.sort !== "relevance") params.set("sort", s.sort);
  if (!s.understand) params.set("understand", "0");
  for (const [field, values] of s.filters.terms) for (const value of values) params.append(`filter.${field}`, value);
  for (const [field, bounds] of s.filters.ranges) {
    const text = Object.entries(rangeOnly(bounds)).map(([op, value]) => `${op}:${value}`).join(",");
    if (text) params.set(`range.${field}`, text);
  }
  if (s.page) params.set("page", String(s.page + 1));
  if (s.why) params.set("why", "1");
  return params;
}

function stateFromParams(params) {
  const filters = emptyFilters();
  for (const [name, value] of params) {
    if (name.startsWith("filter.") && name.length > 7 && value) termSet(filters, name.slice(7)).add(value);
    else if (name.startsWith("range.") && name.length > 6) {
      const bounds = {};
      for (const part of value.split(",")) {
        const [op, number] = part.split(":");
        if (RANGE_OPS.includes(op) && number !== undefined && number.trim() !== "" && Number.isFinite(Number(number))) bounds[op] = Number(number);
      }
      if (Object.keys(bounds).length) filters.ranges.set(name.slice(6), bounds);
    }
  }
  const weight = Number(params.get("weight") ?? DEFAULT_WEIGHT);
  return {
    query: (params.get("q") || "").trim(),
    mode: MODES.includes(params.get("mode")) ? params.get("mode") : "hybrid",
    weight: Number.isFinite(weight) ? Math.min(1, Math.max(0, weight)) : DEFAULT_WEIGHT,
    sort: (params.get("sort") || "").trim() || "relevance",
    page: Math.max(0, (parseInt(params.get("page"), 10) || 1) - 1),
    understand: !["0", "false", "off", "no"].includes((params.get("understand") || "").toLowerCase()),
    why: ["1", "true", "on", "yes"].includes((params.get("why") || "").toLowerCase()), // every explanation open
    filters,
  };
}

function setSortControl(sort) {
  const select = $("sort");
  for (const option of select.querySelectorAll("option[data-extra]")) if (option.value !== sort) option.remove();
  if (![...select.options].some((option) => option.value === sort)) {
    // A sort from a link that the menu does not list (FIELD:asc|desc over any number): list it.
    const [field, direction] = sort.split(":");
    select.append(el("option", { value: sort, "data-extra": true,
      text: direction ? `${field}: ${direction === "desc" ? "high to low" : "low to high"}` : sort }));
  }
  select.value = sort;
}

function showControls() {
  $("q").value = state.query;
  $("mode").value = state.mode;
  $("weight").value = String(state.weight);
  $("weight-value").textContent = Number(state.weight).toFixed(2);
  $("weight").disabled = state.mode === "keyword" || state.mode === "vector";
  setSortControl(state.sort);
  $("why-all").checked = state.why;
}

function remember(how) {
  // push: a new entry for Back to return to; replace: correct the current one.
  const params = paramsOf(state);
  if (params.toString() === new URLSearchParams(location.search).toString()) return; // the same search
  history[how === "replace" ? "replaceState" : "pushState"](null, "", `${location.pathname}?${params}`);
}

function loadFromUrl() {
  Object.assign(state, stateFromParams(new URLSearchParams(location.search)));
  closeSuggestions();
  showControls();
  if (state.query) runSearch({ history: "none" });
  else clearSearch();
}

function clearSearch() {
  searchSeq += 1; // an answer still on its way is not shown
  shown = null;
  showError(null);
  $("status").textContent = "";
  $("degraded").hidden = true;
  $("results").replaceChildren();
  $("facets").replaceChildren();
  $("pager").hidden = true;
  $("understood").hidden = true;
}

async function runSearch({ history: how = "push", keepError = false } = {}) {
  if (!state.query) return;
  const seq = ++searchSeq;
  if (!keepError) showError(null);
  $("status").textContent = "Searching…";
  const body = searchBody(state.query, state.mode, state.weight,
    { k: PAGE_SIZE, offset: state.page * PAGE_SIZE, explain: true, facets: true, filters: filtersBody() });
  if (state.sort !== "relevance") body.sort = state.sort;
  if (!state.understand) body.understand = false;
  try {
    const answer = await api("/v1/search", body);
    if (seq !== searchSeq) return;
    renderSearch(answer);
    if (how !== "none") remember(how);
  } catch (error) {
    if (seq !== searchSeq) return;
    $("status").textContent = shown ? shown.status : "";
    showError(error);
    if (error.param === "sort" && state.sort !== (shown ? shown.sort : "relevance")) {
      // This server cannot sort so (e.g. newest without a date field): the results on screen stay,
      // and the menu shows the order they are in. With none on screen, search in relevance order.
      state.sort = shown ? shown.sort : "relevance";
      setSortControl(state.sort);
      if (!shown) runSearch({ history: "replace", keepError: true });
    }
  }
}

function newSearch(query, { understand = true } = {}) {
  // A new query starts without the previous one's filters, from the first page.
  if (query !== state.query) state.filters = emptyFilters();
  Object.assign(state, { query, mode: $("mode").value, weight: Number($("weight").value), sort: $("sort").value, page: 0, understand });
  $("q").value = query;
  runSearch();
}

function renderSearch(answer) {
  const stages = Object.entries(answer.timings).map(([name, ms]) => `${name.replace(/_ms$/, "")} ${ms.toFixed(1)}`).join(" · ");
  const first = state.page * PAGE_SIZE + 1;
  $("status").textContent = answer.results.length
    ? `Results ${first}–${first + answer.results.length - 1} in ${answer.took_ms.toFixed(1)} ms (${stages})${answer.cached ? ", cached" : ""}`
    : `No results (${answer.took_ms.toFixed(1)} ms)`;
  shown = { sort: state.sort, status: $("status").textContent, understood: answer.understood || null };
  const banner = $("degraded");
  banner.hidden = !answer.degraded;
  banner.textContent = answer.degraded ? `Degraded answer: ${answer.degraded_reason}` : "";
  renderUnderstood(answer.understood);
  $("results").replaceChildren(...answer.results.map((hit, i) => clickable(card(hit, first + i), answer.query_id, hit.id, i + 1)));
  renderFacets(answer.facets || {});
  $("pager").hidden = state.page === 0 && answer.results.length < PAGE_SIZE;
  $("prev").disabled = state.page === 0;
  $("next").disabled = answer.results.length < PAGE_SIZE;
  $("page-label").textContent = `Page ${state.page + 1}`;
}

// ---- what the search understood: chips that can be removed, "did you mean" ---------------------
const number = (value) => String(Number(value));

function rangeLabel(bounds) {
  const low = bounds.gte ?? bounds.gt;
  const high = bounds.lte ?? bounds.lt;
  if (low !== undefined && high !== undefined) return `${number(low)}–${number(high)}`;
  const signs = { gte: "≥", gt: ">", lte: "≤", lt: "<" };
  return Object.entries(rangeOnly(bounds)).map(([op, value]) => `${signs[op]} ${number(value)}`).join(", ");
}

function exactRange(bounds) {
  const words = { gte: "at least", gt: "over", lte: "at most", lt: "under" };
  return Object.entries(rangeOnly(bounds)).map(([op, value]) => `${words[op]} ${number(value)}`).join(" and ");
}

function cutSpans(text, spans) {
  // The server's offsets count code points; cut them as the server does: a space in their place, tidied.
  const chars = [...text];
  const keep = chars.map(() => true);
  for (const span of spans) {
    let [start, end] = [span.start, span.end];
    if (chars.slice(start, end).join("") !== span.text) {
      const at = text.indexOf(span.text);
      if (!span.text || at < 0) continue;
      start = [...text.slice(0, at)].length;
      end = start + [...span.text].length;
    }
    for (let i = start; i < end; i++) keep[i] = false;
  }
  return chars.map((char, i) => (keep[i] ? char : " ")).join("").replace(/\s+/g, " ").trim();
}

function corrected(query, corrections) {
  // The query with each correction made, word by word (as the server builds did_you_mean).
  const fixed = new Map(corrections.map((c) => [c.from.toLowerCase(), c.to]));
  return query.split(/\s+/).map((word) => fixed.get(word.toLowerCase()) ?? word).join(" ");
}

function withoutUnderstood(understood, removed) {
  // The search that removing an understood chip runs: understanding off, the price wording cut out
  // of the query, and what was understood besides the removed chip kept as plain filters.
  const filters = copyFilters(state.filters);
  if (removed.literal) return { query: state.query, filters, kept: [] };
  const kept = [];
  const query = cutSpans(state.query, (understood.spans || []).filter((span) => span.kind === "price")) || state.query;
  for (const [field, bounds] of Object.entries(understood.filters || {})) {
    const range = rangeOnly(bounds);
    if (!Object.keys(range).length || field === removed.range) continue;
    filters.ranges.set(field, narrower(filters.ranges.get(field) || {}, range));
    kept.push(`${field} ${rangeLabel(range)}`);
  }
  for (const entity of understood.entities || []) {
    if (entity.use !== "filter" || entity === removed.entity) continue;
    termSet(filters, entity.field).add(entity.value);
    kept.push(`${entity.field}: ${entity.value}`);
  }
  return { query, filters, kept };
}

function chip(label, { kind, about, removing, onRemove, filter = false }) {
  const button = el("button", { type: "button", "aria-label": `Remove ${label}`, title: removing, text: "×" });
  button.addEventListener("click", onRemove);
  return el("li", { class: filter ? "chip filter" : "chip", "data-kind": kind, title: about }, el("span", { class: "chip-label", text: label }), button);
}

function understoodChip(understood, label, kind, about, removed) {
  const next = withoutUnderstood(understood, removed);
  const removing = removed.literal
    ? `Remove: search “${next.query}” word for word, without query understanding`
    : `Remove: search “${next.query}” again without query understanding${next.kept.length ? ` (keeping ${next.kept.join(", ")} as filters)` : ""}`;
  return chip(label, { kind, about, removing, onRemove: () => {
    Object.assign(state, { query: next.query, filters: next.filters, understand: false, page: 0 });
    $("q").value = next.query;
    runSearch();
  } });
}

function renderUnderstood(understood) {
  const chips = [];
  const u = state.understand ? understood : null;
  if (u) {
    const priceWords = (u.spans || []).filter((span) => span.kind === "price").map((span) => `“${span.text}”`).join(", ");
    for (const [field, bounds] of Object.entries(u.filters || {})) {
      if (!Object.keys(rangeOnly(bounds)).length) continue;
      chips.push(understoodChip(u, `${field} ${rangeLabel(bounds)}`, "price",
        `Filter: ${field} ${exactRange(bounds)}${priceWords ? `, read from ${priceWords}` : ""}`, { range: field }));
    }
    for (const entity of u.entities || []) {
      if (entity.use !== "boost" && entity.use !== "filter") continue;
      const about = entity.use === "filter" ? `Only products with ${entity.field} ${entity.value}` : `Products with ${entity.field} ${entity.value} rank higher`;
      chips.push(understoodChip(u, `${entity.field}: ${entity.value}`, "entity", `${about} (read from “${entity.text}”)`, { entity }));
    }
    for (const synonym of u.synonyms || []) {
      chips.push(understoodChip(u, `${synonym.phrase} → ${synonym.alternatives.join(", ")}`, "synonym",
        `Synonym: also searched ${synonym.alternatives.map((a) => `“${a}”`).join(", ")}`, { synonym }));
    }
    for (const correction of u.corrections || []) {
      chips.push(understoodChip(u, `${correction.from} → ${correction.to}`, "correction",
        `Spelling: also searched “${correction.to}”`, { correction }));
    }
    if (u.text && u.text !== state.query) {
      chips.push(understoodChip(u, `searched: ${u.text}`, "text", `The words searched once the understood wording was taken out`, { literal: true }));
    }
  }
  for (const [field, bounds] of state.filters.ranges) {
    if (!Object.keys(rangeOnly(bounds)).length) continue;
    chips.push(chip(`${field} ${rangeLabel(bounds)}`, { kind: "filter", filter: true, about: `Filter: ${field} ${exactRange(bounds)}`,
      removing: `Remove this filter and search again`, onRemove: () => { state.filters.ranges.delete(field); state.page = 0; runSearch(); } }));
  }
  for (const [field, values] of state.filters.terms) {
    if (FACET_FIELDS.includes(field)) continue; // ticked in the facets
    for (const value of values) {
      chips.push(chip(`${field}: ${value}`, { kind: "filter", filter: true, about: `Filter: only products with ${field} ${value}`,
        removing: `Remove this filter and search again`, onRemove: () => { values.delete(value); state.page = 0; runSearch(); } }));
    }
  }
  $("chips").replaceChildren(...chips);

  const line = $("did-you-mean");
  const suggestion = u?.did_you_mean ? (u.text === state.query ? u.did_you_mean : corrected(state.query, u.corrections || [])) : null;
  line.hidden = !suggestion;
  if (suggestion) {
    const href = `?${paramsOf({ ...state, query: suggestion, page: 0, understand: true, filters: emptyFilters() })}`;
    const link = el("a", { href, text: suggestion });
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return; // a new tab gets the link
      event.preventDefault();
      newSearch(suggestion);
    });
    line.replaceChildren("Did you mean: ", link, "?");
  } else line.replaceChildren();
  $("understand-off").hidden = state.understand;
  $("understood").hidden = !chips.length && !suggestion && state.understand;
}

$("understand-on").addEventListener("click", () => { state.understand = true; state.page = 0; runSearch(); });

// A click on a result card (not on its explanation) is a shopper's click: the page reports it, as a
// shop's front end would, so the behaviour loop's figures include the page's own use. Once per card.
function clickable(node, queryId, itemId, position) {
  if (!queryId) return node;
  let sent = false;
  node.addEventListener("click", (event) => {
    if (sent || event.target.closest("details")) return;
    sent = true;
    api("/v1/events", { events: [{ type: "click", query_id: queryId, item_id: itemId, position }] }, { quiet: true })
      .catch(() => {});  // analytics must never get in a search's way
  });
  return node;
}

function card(hit, position) {
  const item = hit.item;
  const why = hit.explanation || {};
  const spans = why.highlights || {};
  const attributes = Object.entries(item).filter(([name, value]) => !CANONICAL.has(name) && !IMAGE_FIELDS.includes(name)
    && (typeof value === "string" || typeof value === "number")).slice(0, 4);
  const image = imageOf(item);
  const titleId = `title-${position}`;
  return el("li", { class: "card", "aria-labelledby": titleId },
    image ? el("img", { src: image, alt: "", loading: "lazy" }) : el("span"),
    el("div", {},
      el("h3", { id: titleId }, `${position}. `, highlighted(item.title || item.id, spans.title)),
      el("div", { class: "meta" },
        item.brand ? el("span", { class: "brand", text: item.brand }) : null,
        item.category ? el("span", { text: item.category }) : null,
        typeof item.price === "number" ? el("span", { class: "price", text: money(item.price), "data-price": String(item.price) }) : null,
        el("span", { text: `id ${item.id}` })),
      attributes.length ? el("dl", { class: "attrs" }, ...attributes.map(([name, value]) =>
        el("div", {}, el("dt", { text: name.replace(/^attr_([a-z]_)?/, "").replace(/_/g, " ") }), el("dd", { text: String(value) })))) : null,
      explanation(hit, spans),
      similarItems(item.id)));
}

// "You may also like": the nearest products by this one's vector, fetched when opened.
function similarItems(itemId) {
  const list = el("ol", { class: "compact similar-list" });
  const details = el("details", { class: "similar" }, el("summary", { text: "Similar items" }), list);
  details.addEventListener("toggle", async () => {
    if (!details.open || list.childElementCount) return;
    try {
      const answer = await api(`/v1/items/${encodeURIComponent(itemId)}/similar?k=4`);
      list.replaceChildren(...(answer.results.length ? answer.results.map((hit) => el("li", { "data-id": hit.id },
        el("span", { text: hit.item.title || hit.id }), typeof hit.item.price === "number" ? el("span", { class: "price", text: ` ${money(hit.item.price)}` }) : null))
        : [el("li", { class: "hint", text: "No similar item." })]));
    } catch (error) {
      list.replaceChildren(el("li", { class: "hint", text: `Similar items unavailable: ${error.message}` }));
    }
  });
  return details;
}

function explanation(hit, spans) {
  const why = hit.explanation || {};
  const rows = [
    ["keyword (BM25)", why.keyword_score, why.keyword_rank],
    ["vector (cosine)", why.vector_score, why.vector_rank],
    ["fused", why.fused_score, null],
    ["learned ranker", why.ranker_score, null],
    ["reranker", why.rerank_score, why.rerank_rank],
  ].filter(([, score, rank], i) => i < 3 || score !== null && score !== undefined || rank);
  const matched = Object.entries(why.matched_terms || {}).map(([field, terms]) => `${field}: ${terms.join(", ")}`);
  return el("details", { open: state.why },
    el("summary", { text: "Why this rank" }),
    el("table", { class: "why" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "stage" }), el("th", { scope: "col", text: "score" }), el("th", { scope: "col", text: "rank" }))),
      el("tbody", {}, ...rows.map(([name, score, rank]) => el("tr", {},
        el("th", { scope: "row", text: name }), el("td", { text: fixed(score, 4) }), el("td", { text: rank ? String(rank) : score === null || score === undefined ? "not retrieved" : "–" }))))),
    el("p", { text: matched.length ? `Matched terms: ${matched.join("; ")}` : "No query term matched (found by meaning only)." }),
    hit.item.description ? el("p", { class: "snippet" }, highlighted(hit.item.description, spans.description, 400)) : null);
}

function renderFacets(facets) {
  // The boxes are drawn anew for every answer: one that had the keyboard focus gets it back.
  const focused = $("facets").contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused ? [focused.dataset.facet, focused.value] : null;
  const groups = [];
  for (const [field, label] of [["brand", "Brand"], ["category", "Category"]]) {
    const values = facets[field] || [];
    const chosen = termSet(state.filters, field);
    const shownValues = new Map(values.map((f) => [f.value, f.count]));
    for (const value of chosen) if (!shownValues.has(value)) shownValues.set(value, 0);
    if (!shownValues.size) continue;
    groups.push(el("h2", { text: label }), el("ul", {}, ...[...shownValues].map(([value, count]) => {
      const box = el("input", { type: "checkbox", checked: chosen.has(value), "data-facet": field, value });
      box.addEventListener("change", () => {
        box.checked ? chosen.add(value) : chosen.delete(value);
        state.page = 0;
        runSearch();
      });
      return el("li", {}, el("label", {}, box, el("span", { text: value }), el("span", { class: "count", text: String(count) })));
    })));
  }
  const bands = facets.price || [];
  const current = state.filters.ranges.get("price");
  if (bands.length || current) {
    const options = bands.map((band) => ({ ...band, label: `${money(band.from)} – ${band.to === null ? "" : money(band.to)}` }));
    const isBand = (band) => current && current.gte === band.from && (current.lt ?? null) === band.to
      && current.gt === undefined && current.lte === undefined;
    groups.push(el("h2", { text: "Price" }), el("ul", {},
      ...[{ from: null, to: null, label: "any price", count: null }, ...options].map((band) => {
        const selected = band.from === null ? !current : isBand(band);
        const radio = el("input", { type: "radio", name: "price-band", checked: selected, "data-facet": "price",
          value: band.from === null ? "any" : `${band.from}..${band.to ?? ""}` });
        radio.addEventListener("change", () => {
          if (band.from === null) state.filters.ranges.delete("price");
          else state.filters.ranges.set("price", band.to === null ? { gte: band.from } : { gte: band.from, lt: band.to });
          state.page = 0;
          runSearch();
        });
        return el("li", {}, el("label", {}, radio, el("span", { text: band.label }),
          band.count === null ? null : el("span", { class: "count", text: String(band.count) })));
      })));
  }
  if (groups.length) groups.unshift(el("p", { class: "hint", text: "Counts over the top candidates of this query." }));
  $("facets").replaceChildren(...groups);
  $("filters").hidden = !groups.length;
  if (focusKey) {
    const inGroup = [...$("facets").querySelectorAll("input")].filter((input) => input.dataset.facet === focusKey[0]);
    (inGroup.find((input) => input.value === focusKey[1]) || inGroup[0])?.focus(); // its group when the value is gone
  }
}

$("weight").addEventListener("input", () => { $("weight-value").textContent = Number($("weight").value).toFixed(2); });
$("mode").addEventListener("change", () => { $("weight").disabled = $("mode").value === "keyword" || $("mode").value === "vector"; });
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  closeSuggestions();
  const query = $("q").value.trim();
  // Searching the same words again keeps their filters, and understanding as it was.
  newSearch(query, { understand: query === state.query ? state.understand : true });
});
$("sort").addEventListener("change", () => {
  state.sort = $("sort").value;
  state.page = 0;
  runSearch();
});
$("why-all").addEventListener("change", () => {
  // Only the view changes: the answer on screen opens or folds its explanations, no new search.
  state.why = $("why-all").checked;
  for (const details of $("results").querySelectorAll(".card details")) details.open = state.why;
  if (state.query) remember("replace");
});
$("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); runSearch(); });
$("next").addEventListener("click", () => { state.page += 1; runSearch(); });

// ---- suggestions as you type (WAI-ARIA combobox with a listbox popup) ----------------------------
const SUGGEST_DELAY_MS = 120;
const MAX_SUGGESTIONS = 8;
const box = $("q");
const listbox = $("suggestions");
let suggestTimer = 0;
let suggestSeq = 0; // only the answer for the newest prefix is shown
let composing = false; // an IME is composing (CJK input): wait for the composed text
let active = -1;

function suggestionOptions() { return [...listbox.querySelectorAll("[role=option]")]; }

function closeSuggestions() {
  clearTimeout(suggestTimer);
  suggestSeq += 1;
  active = -1;
  listbox.hidden = true;
  listbox.replaceChildren();
  box.setAttribute("aria-expanded", "false");
  box.removeAttribute("aria-activedescendant");
}

function setActive(index) {
  const options = suggestionOptions();
  active = options.length ? (index + options.length) % options.length : -1;
  options.forEach((option, i) => option.setAttribute("aria-selected", String(i === active)));
  if (active >= 0) {
    box.setAttribute("aria-activedescendant", options[active].id);
    options[active].scrollIntoView({ block: "nearest" });
  } else box.removeAttribute("aria-activedescendant");
}

function showSuggestions(items) {
  active = -1;
  box.removeAttribute("aria-activedescendant");
  listbox.replaceChildren(...items.map((item, i) => el("li", { role: "option", id: `suggestion-${i}`, "aria-selected": "false", "data-text": item.text },
    el("span", { class: "text", text: item.text }), el("span", { class: "kind", text: item.kind }))));
  listbox.hidden = !items.length;
  box.setAttribute("aria-expanded", String(items.length > 0));
}

function scheduleSuggestions() {
  clearTimeout(suggestTimer);
  const prefix = box.value;
  if (!prefix.trim()) return closeSuggestions();
  suggestTimer = setTimeout(() => fetchSuggestions(prefix), SUGGEST_DELAY_MS);
}

async function fetchSuggestions(prefix) {
  const seq = ++suggestSeq;
  try {
    const answer = await api(`/v1/suggest?${new URLSearchParams({ q: prefix, k: String(MAX_SUGGESTIONS) })}`, undefined, { quiet: true });
    if (seq !== suggestSeq || box.value !== prefix || document.activeElement !== box || composing) return; // stale
    showSuggestions((answer.data || []).slice(0, MAX_SUGGESTIONS));
  } catch {
    if (seq === suggestSeq) closeSuggestions(); // suggestions are a help: a failure just shows none
  }
}

function pick(option) {
  const text = option.dataset.text;
  closeSuggestions();
  newSearch(text);
}

box.addEventListener("input", (event) => {
  if (composing || event.isComposing) return;
  scheduleSuggestions();
});
box.addEventListener("compositionstart", () => { composing = true; clearTimeout(suggestTimer); });
box.addEventListener("compositionend", () => { composing = false; scheduleSuggestions(); });
box.addEventListener("blur", closeSuggestions);
box.addEventListener("keydown", (event) => {
  if (event.isComposing || event.keyCode === 229) return; // the IME's own keys (Enter confirms a candidate)
  const open = !listbox.hidden;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (!open) {
      if (box.value.trim()) { clearTimeout(suggestTimer); fetchSuggestions(box.value); }
      return;
    }
    setActive(event.key === "ArrowDown" ? active + 1 : active < 0 ? -1 : active - 1);
  } else if (event.key === "Enter") {
    if (open && active >= 0) {
      event.preventDefault(); // the picked suggestion is searched, not the form's text
      pick(suggestionOptions()[active]);
    } else closeSuggestions(); // the form submits the text as typed
  } else if (event.key === "Escape") {
    if (open) {
      event.preventDefault(); // close the list; keep the text (a search box clears itself on Escape)
      closeSuggestions();
    }
  } else if (event.key === "Tab") closeSuggestions();
});
listbox.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the box
listbox.addEventListener("click", (event) => {
  const option = event.target.closest("[role=option]");
  if (option) pick(option);
});

// ---- compare -----------------------------------------------------------------------------
// Two result lists, the right one marked with each item's move from the left (and "rule" where a rule moved it).
function sideBySide(leftList, rightList, left, right) {
  const before = new Map(left.map((hit, i) => [hit.id, i]));
  for (const [list, hits, marked] of [[leftList, left, false], [rightList, right, true]]) {
    list.replaceChildren(...hits.map((hit, i) => {
      const line = el("li", { "data-id": hit.id }, el("span", { text: hit.item.title || hit.id }));
      if (marked) {
        const was = before.get(hit.id);
        const mark = was === undefined ? ["new", "new", `new in the top ${left.length}`]
          : was > i ? ["up", `▲${was - i}`, `up ${was - i}`] : was < i ? ["down", `▼${i - was}`, `down ${i - was}`] : null;
        if (mark) line.append(el("span", { class: `moved ${mark[0]}`, text: mark[1], "aria-label": mark[2], title: mark[2] }));
      }
      const rules = hit.explanation?.rules || [];
      if (rules.length) line.append(el("span", { class: "rule-mark", text: "rule", title: `moved by ${rules.join(", ")}`, "aria-label": `moved by rule ${rules.join(", ")}` }));
      return line;
    }));
  }
}

$("compare-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  const query = $("cq").value.trim();
  const sides = ["left", "right"].map((side) => ({ side, mode: $(`${side}-mode`).value, weight: $(`${side}-weight`).value }));
  try {
    const [left, right] = await Promise.all(sides.map((s) => api("/v1/search", searchBody(query, s.mode, s.weight, { k: PAGE_SIZE }))));
    for (const [s, answer] of [[sides[0], left], [sides[1], right]]) {
      $(`${s.side}-title`).textContent = `${s.mode}${s.mode.startsWith("hybrid") ? `, vector weight ${s.weight}` : ""} (${answer.took_ms.toFixed(1)} ms)`;
    }
    sideBySide($("left-results"), $("right-results"), left.results, right.results);
  } catch (error) {
    showError(error);
  }
});

// ---- rerank playground -------------------------------------------------------------------
let rerankerKnown = false;
async function checkReranker() {
  if (rerankerKnown) return;
  try {
    const models = await api("/v1/models");
    const reranker = models.data.find((m) => m.kind === "rerank");
    $("reranker-status").textContent = reranker
      ? `Reranker: ${reranker.id}`
      : "No reranker is configured on this server, so there is nothing to score with. Start it with --rerank-model (for example qwen3:Qwen/Qwen3-Reranker-0.6B).";
    $("rerank-form").querySelector("button").disabled = !reranker;
    rerankerKnown = true;
  } catch (error) {
    showError(error);
  }
}

$("rerank-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  const documents = $("rdocs").value.split("\n").map((line) => line.trim()).filter(Boolean);
  try {
    const answer = await api("/v1/rerank", { query: $("rq").value.trim(), documents, return_documents: true });
    const table = $("rerank-table");
    table.querySelector("tbody").replaceChildren(...answer.results.map((r, i) => el("tr", {},
      el("td", { class: "num", text: String(i + 1) }), el("td", { class: "num", text: r.relevance_score.toFixed(4) }),
      el("td", { class: "num", text: String(r.index + 1) }), el("td", { text: r.document?.text ?? documents[r.index] }))));
    table.hidden = false;
  } catch (error) {
    showError(error);
  }
});

// ---- evaluation --------------------------------------------------------------------------
let judgmentsListed = false;
async function listJudgments() {
  if (judgmentsListed) return;
  try {
    const files = await api("/v1/eval/judgments");
    $("eval-file").append(...files.data.map((f) => el("option", { value: f.name, text: f.name })));
    judgmentsListed = true;
  } catch (error) {
    showError(error);
  }
}

const METRICS = ["ndcg@10", "mrr@10", "recall@100", "map@100", "judged@10"];
$("eval-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  const modes = [...document.querySelectorAll("input[name=eval-mode]:checked")].map((box) => box.value);
  const upload = $("eval-upload").files[0];
  const queries = $("eval-queries").files[0];
  const body = { modes: modes.length ? modes : ["keyword"] };
  if (upload) body.judgments = await upload.text();
  else if ($("eval-file").value) body.file = $("eval-file").value;
  else return showError(new Error("Pick a judgments file on the server or upload one."));
  if (upload && queries) body.queries = await queries.text();
  $("eval-status").textContent = "Evaluating… (every query, once per configuration)";
  try {
    renderReport(await api("/v1/eval", body));
  } catch (error) {
    $("eval-status").textContent = "";
    showError(error);
  }
});

function renderReport(report) {
  $("eval-status").textContent = `${report.queries} judged queries from ${report.source}; baseline: ${report.baseline}.`;
  const table = el("table", { id: "eval-table" },
    el("caption", { text: "Ranking quality per configuration (means over queries)" }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "configuration" }),
      ...METRICS.map((m) => el("th", { scope: "col", text: m })), el("th", { scope: "col", text: "Δ nDCG@10 vs keyword" }))),
    el("tbody", {}, ...report.runs.map((run) => el("tr", {}, el("th", { scope: "row", text: run.name }),
      ...METRICS.map((m) => el("td", { class: "num", text: run.summary[m].toFixed(4) })),
      el("td", { class: "num", text: `${run.ndcg_change_pct >= 0 ? "+" : ""}${run.ndcg_change_pct.toFixed(1)}%` })))));
  const parts = [el("div", { class: "table-wrap" }, table)];
  if (report.plot_png) parts.push(el("img", { src: `data:image/png;base64,${report.plot_png}`, alt: "Bar chart of every metric per configuration" }));
  else if (report.plot_problem) parts.push(el("p", { class: "hint", text: report.plot_problem }));
  for (const run of report.runs.slice(1)) {
    const list = (rows) => el("ul", {}, ...rows.map(([query, delta]) => el("li", { text: `${query}: ${delta >= 0 ? "+" : ""}${delta.toFixed(3)}` })));
    parts.push(el("details", {}, el("summary", { text: `${run.name}: ${run.wins.length} wins, ${run.losses.length} losses against keyword (nDCG@10)` }),
      el("h3", { text: "Wins" }), list(run.wins), el("h3", { text: "Losses" }), list(run.losses)));
  }
  $("eval-report").replaceChildren(...parts);
}

// ---- analytics (GET /v1/analytics and /v1/analytics/series, admin routes) -------------------------
const percent = (value) => (value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)}%`);
// A rate is a share of a bucket's searches: a bucket without searches has none (a gap in its line, not 0).
const FIGURES = [
  { key: "searches", label: "Searches", format: (v) => Number(v).toLocaleString(), bars: true },
  { key: "no_result_rate", label: "No-result rate", format: percent, rate: true },
  { key: "no_click_rate", label: "No-click rate", format: percent, rate: true },
  { key: "ctr", label: "Click-through rate", format: percent, rate: true },
  { key: "conversion_rate", label: "Conversion rate", format: percent, rate: true },
  { key: "mean_click_position", label: "Mean click position", format: (v) => fixed(v, 2), from: 1 },
];
const SVG_NS = "http://www.w3.org/2000/svg";
const WORST_QUERIES = 10; // per list
let analyticsSeq = 0; // only the newest window's answer is shown

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function duration(seconds) {
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (seconds >= size && seconds % size === 0) return seconds === size ? unit : `${seconds / size} ${unit}s`;
  }
  return `${seconds} s`;
}

function when(seconds, interval) {
  const options = interval >= 86400 ? { month: "short", day: "numeric" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return new Date(seconds * 1000).toLocaleString(undefined, options);
}

function ceilNice(value) {
  // The axis top: 1, 2 or 5 times a power of ten at or above the value.
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((top) => top >= value * (1 - 1e-9));
}

function chart(figure, buckets, interval) {
  // Inline SVG, drawn here: the page loads nothing from elsewhere, so it works offline.
  const [width, height, left, right, top, bottom] = [360, 140, 46, 8, 8, 22];
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const values = buckets.map((b) => (figure.rate && !b.searches ? null : b[figure.key]));
  const shown = values.filter((v) => v !== null && v !== undefined);
  const low = figure.from ?? 0;
  const high = figure.rate ? Math.min(1, ceilNice(Math.max(...shown, 0))) : Math.max(low + 1, ceilNice(Math.max(...shown, 0)));
  const step = plotWidth / Math.max(buckets.length, 1);
  const x = (i) => left + (i + 0.5) * step;
  const y = (v) => top + plotHeight * (1 - (v - low) / (high - low));
  const label = (i) => `${when(buckets[i].start, interval)}: ${figure.format(values[i])}`;
  const marks = [];
  if (figure.bars) {
    values.forEach((v, i) => marks.push(svg("rect", { class: "bar", x: left + i * step, y: y(v), width: Math.max(step - 1, 1), height: Math.max(y(low) - y(v), 0) },
      svg("title", {}, label(i)))));
  } else {
    let run = [];
    const flush = () => {
      if (run.length > 1) marks.push(svg("polyline", { class: "line", points: run.map(([px, py]) => `${px},${py}`).join(" ") }));
      run = [];
    };
    values.forEach((v, i) => {
      if (v === null || v === undefined) return flush();
      run.push([x(i), y(v)]);
      marks.push(svg("circle", { class: "point", cx: x(i), cy: y(v), r: 2 }, svg("title", {}, label(i))));
    });
    flush();
  }
  const axis = [
    svg("line", { class: "axis", x1: left, y1: y(low), x2: width - right, y2: y(low) }),
    svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: y(low) }),
    svg("text", { class: "tick", x: left - 4, y: top + 8, "text-anchor": "end" }, figure.format(high)),
    svg("text", { class: "tick", x: left - 4, y: y(low), "text-anchor": "end" }, figure.format(low)),
  ];
  if (buckets.length) {
    axis.push(svg("text", { class: "tick", x: left, y: height - 6 }, when(buckets[0].start, interval)),
      svg("text", { class: "tick", x: width - right, y: height - 6, "text-anchor": "end" }, when(buckets[buckets.length - 1].start, interval)));
  }
  const summary = shown.length ? `from ${figure.format(Math.min(...shown))} to ${figure.format(Math.max(...shown))}` : "no data";
  const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${figure.label} per ${duration(interval)}, ${buckets.length} points, ${summary}` }, ...axis, ...marks);
  return el("figure", { class: "chart", "data-figure": figure.key }, el("figcaption", { text: `${figure.label} per ${duration(interval)}` }), picture);
}

function explainLink(query) {
  // The query in the search tab with every result's explanation open; a new tab gets the same as a link.
  const target = { ...stateFromParams(new URLSearchParams()), query, why: true };
  const link = el("a", { href: `?${paramsOf(target)}`, text: query });
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    selectTab($("tab-search"), false);
    state.why = true;
    $("why-all").checked = true;
    newSearch(query);
    $("q").focus();
  });
  return link;
}

function queryList(id, rows, none) {
  $(id).replaceChildren(...(rows.length ? rows.map((row) => el("li", {}, explainLink(row.query), el("span", { class: "count", text: row.count.toLocaleString() })))
    : [el("li", { class: "hint", text: none })]));
}

function renderAnalytics(figures, series, during) {
  $("analytics-status").textContent = figures.searches
    ? `${figures.searches.toLocaleString()} searches ${during}.`
    : `No searches were logged ${during}.`;
  $("analytics-figures").replaceChildren(...FIGURES.map((f) => el("div", { "data-figure": f.key },
    el("dt", { text: f.label }), el("dd", { text: f.format(figures[f.key]) }))));
  const variants = Object.entries(figures.variants || {});
  $("analytics-variants").replaceChildren(...(variants.length ? [el("div", { class: "table-wrap" }, el("table", { id: "variants-table" },
    el("caption", { text: "Per experiment variant" }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "variant" }), ...FIGURES.map((f) => el("th", { scope: "col", text: f.label })))),
    el("tbody", {}, ...variants.map(([name, v]) => el("tr", { "data-variant": name }, el("th", { scope: "row", text: name }),
      ...FIGURES.map((f) => el("td", { class: "num", text: f.format(v[f.key]) })))))))] : []));
  $("analytics-plots").replaceChildren(...(series.buckets.length ? FIGURES.map((f) => chart(f, series.buckets, series.interval)) : []));
  queryList("no-result-queries", figures.no_result_queries, "None: every search found something.");
  queryList("no-click-queries", figures.no_click_queries, "None: every search with results had a click.");
}

async function loadAnalytics() {
  const seq = ++analyticsSeq;
  const select = $("analytics-window");
  const params = new URLSearchParams();
  const during = select.value === "all" ? "in the whole log" : `in the ${select.selectedOptions[0].textContent.toLowerCase()}`;
  if (select.value !== "all") {
    const now = Date.now() / 1000;
    params.set("since", String(now - Number(select.value)));
    params.set("until", String(now)); // the plot spans the whole window, quiet hours included
  }
  $("analytics-status").textContent = "Loading…";
  try {
    const lists = new URLSearchParams(params);
    lists.set("top", String(WORST_QUERIES));
    const [figures, series] = await Promise.all([api(`/v1/analytics?${lists}`), api(`/v1/analytics/series?${params}`)]);
    if (seq !== analyticsSeq) return;
    showError(null);
    renderAnalytics(figures, series, during);
  } catch (error) {
    if (seq !== analyticsSeq) return;
    $("analytics-status").textContent = "";
    showError(error);
  }
}

$("analytics-window").addEventListener("change", loadAnalytics);
$("analytics-form").addEventListener("submit", (event) => { event.preventDefault(); loadAnalytics(); });

// On a phone the filters start folded, so the first results are on the first screen.
if (window.matchMedia("(max-width: 720px)").matches) $("filters").open = false;

// ---- merchandising rules -------------------------------------------------------------------
const RULE_TEMPLATE = { id: "new-rule", when: { query: "" }, actions: [{ pin: "ITEM_ID", position: 1 }], enabled: true };
const RULE_STATS_DAYS = 30;
let rulesInForce = [];

function actionText(action) {
  if ("pin" in action) return `pin ${action.pin} at ${action.position ?? 1}`;
  if ("hide" in action) return `hide ${action.hide}`;
  const [kind] = Object.keys(action).filter((k) => k !== "factor");
  return `${kind} ${JSON.stringify(action[kind])}${action.factor ? ` ×${action.factor}` : ""}`;
}

function ruleState(rule) {
  const now = Date.now() / 1000;
  const seconds = (t) => (typeof t === "number" ? t : t ? Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : `${t}Z`) / 1000 : null);
  if (rule.enabled === false) return "off";
  const from = seconds(rule.active_from), until = seconds(rule.active_until);
  if (from !== null && from > now) return `from ${new Date(from * 1000).toLocaleString()}`;
  if (until !== null && until <= now) return "ended";
  return until !== null ? `on until ${new Date(until * 1000).toLocaleString()}` : "on";
}

function editRule(rule) {
  $("rule-json").value = JSON.stringify(rule, null, 2);
  if (!$("rule-query").value) $("rule-query").value = rule.when?.query || rule.when?.contains || "";
}

async function loadRules() {
  $("rules-status").textContent = "Loading…";
  try {
    const since = Date.now() / 1000 - RULE_STATS_DAYS * 86400;
    const [stored, figures] = await Promise.all([api("/v1/rules"), api(`/v1/analytics?since=${since}&top=0`).catch(() => ({}))]);
    rulesInForce = stored.rules;
    const stats = figures.rules || {};
    $("rules-table").querySelector("tbody").replaceChildren(...rulesInForce.map((rule) => el("tr", { "data-rule": rule.id },
      el("th", { scope: "row", text: rule.id }), el("td", { text: JSON.stringify(rule.when) }),
      el("td", { text: rule.actions.map(actionText).join("; ") }), el("td", { text: ruleState(rule) }),
      el("td", { class: "num", text: String(stats[rule.id]?.searches ?? 0) }),
      el("td", { class: "num", text: stats[rule.id] ? percent(stats[rule.id].ctr) : "–" }),
      el("td", {}, (() => {
        const button = el("button", { type: "button", text: "Edit", "aria-label": `Edit rule ${rule.id}` });
        button.addEventListener("click", () => editRule(rule));
        return button;
      })()))));
    $("rules-status").textContent = stored.count ? `${stored.count} rule${stored.count === 1 ? "" : "s"} in force.` : "No rules yet: write one below.";
    if (!$("rule-json").value) editRule(rulesInForce[0] || RULE_TEMPLATE);
    showError(null);
  } catch (error) {
    $("rules-status").textContent = "";
    showError(error);
  }
}

// The rule in the editor, and the whole set as it would be with it saved (in place of the rule of its id).
function draftRules() {
  let rule;
  try {
    rule = JSON.parse($("rule-json").value);
  } catch (error) {
    throw new Error(`The rule is not JSON: ${error.message}`);
  }
  const at = rulesInForce.findIndex((r) => r.id === rule?.id);
  const rules = [...rulesInForce];
  if (at >= 0) rules[at] = rule; else rules.push(rule);
  return { rule, rules };
}

$("rule-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  try {
    const { rules } = draftRules();
    const answer = await api("/v1/rules/preview", { query: $("rule-query").value.trim(), rules, k: PAGE_SIZE });
    $("rules-before-title").textContent = `Before (${answer.before.rules_fired.length ? `fired: ${answer.before.rules_fired.join(", ")}` : "no rule fired"})`;
    $("rules-after-title").textContent = `After (${answer.after.rules_fired.length ? `fired: ${answer.after.rules_fired.join(", ")}` : "no rule fired"})`;
    sideBySide($("rules-before"), $("rules-after"), answer.before.results, answer.after.results);
  } catch (error) {
    showError(error);
  }
});
$("rule-save").addEventListener("click", async () => {
  showError(null);
  try {
    const { rule, rules } = draftRules();
    await api("/v1/rules", { rules }, { method: "PUT" });
    await loadRules();
    $("rules-status").textContent = `Saved rule ${rule.id}. ${$("rules-status").textContent}`;
  } catch (error) {
    showError(error);
  }
});
$("rule-delete").addEventListener("click", async () => {
  showError(null);
  try {
    const { rule } = draftRules();
    await api(`/v1/rules/${encodeURIComponent(rule.id)}`, undefined, { method: "DELETE" });
    $("rule-json").value = "";
    await loadRules();
  } catch (error) {
    showError(error);
  }
});
$("rule-new").addEventListener("click", () => editRule(RULE_TEMPLATE));

const onTabShown = { "tab-rerank": checkReranker, "tab-eval": listJudgments, "tab-analytics": loadAnalytics, "tab-rules": loadRules };

// The search in the address runs when the page opens (a shared link reproduces it); Back and
// Forward bring earlier searches back.
window.addEventListener("popstate", () => {
  const searchTab = $("tab-search");
  if (searchTab.getAttribute("aria-selected") !== "true") selectTab(searchTab, false);
  loadFromUrl();
applyScope();
});
loadFromUrl();
applyScope();
