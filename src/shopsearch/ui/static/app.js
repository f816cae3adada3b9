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
async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem("shopsearch-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) $("key-form").hidden = false;
    const error = new Error(data.error?.message || `${response.status} ${response.statusText}`);
    error.status = response.status;
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
});

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
    const i = tabs.indexOf(tab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    selectTab(tabs[(next + tabs.length) % tabs.length]);
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
const state = { query: "", mode: "hybrid", weight: 0.2, page: 0, filters: { brand: new Set(), category: new Set(), price: null } };

function filtersBody() {
  const filters = {};
  if (state.filters.brand.size) filters.brand = [...state.filters.brand];
  if (state.filters.category.size) filters.category = [...state.filters.category];
  if (state.filters.price) {
    filters.price = { gte: state.filters.price.from };
    if (state.filters.price.to !== null) filters.price.lt = state.filters.price.to;
  }
  return Object.keys(filters).length ? filters : undefined;
}

async function runSearch() {
  if (!state.query) return;
  showError(null);
  $("status").textContent = "Searching…";
  const body = searchBody(state.query, state.mode, state.weight,
    { k: PAGE_SIZE, offset: state.page * PAGE_SIZE, explain: true, facets: true, filters: filtersBody() });
  try {
    renderSearch(await api("/v1/search", body));
  } catch (error) {
    $("status").textContent = "";
    showError(error);
  }
}

function renderSearch(answer) {
  const stages = Object.entries(answer.timings).map(([name, ms]) => `${name.replace(/_ms$/, "")} ${ms.toFixed(1)}`).join(" · ");
  const first = state.page * PAGE_SIZE + 1;
  $("status").textContent = answer.results.length
    ? `Results ${first}–${first + answer.results.length - 1} in ${answer.took_ms.toFixed(1)} ms (${stages})${answer.cached ? ", cached" : ""}`
    : `No results (${answer.took_ms.toFixed(1)} ms)`;
  const banner = $("degraded");
  banner.hidden = !answer.degraded;
  banner.textContent = answer.degraded ? `Degraded answer: ${answer.degraded_reason}` : "";
  $("results").replaceChildren(...answer.results.map((hit, i) => card(hit, first + i)));
  renderFacets(answer.facets || {});
  $("pager").hidden = state.page === 0 && answer.results.length < PAGE_SIZE;
  $("prev").disabled = state.page === 0;
  $("next").disabled = answer.results.length < PAGE_SIZE;
  $("page-label").textContent = `Page ${state.page + 1}`;
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
        typeof item.price === "number" ? el("span", { class: "price", text: money(item.price) }) : null,
        el("span", { text: `id ${item.id}` })),
      attributes.length ? el("dl", { class: "attrs" }, ...attributes.map(([name, value]) =>
        el("div", {}, el("dt", { text: name.replace(/^attr_([a-z]_)?/, "").replace(/_/g, " ") }), el("dd", { text: String(value) })))) : null,
      explanation(hit, spans)));
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
  return el("details", {},
    el("summary", { text: "Why this rank" }),
    el("table", { class: "why" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "stage" }), el("th", { scope: "col", text: "score" }), el("th", { scope: "col", text: "rank" }))),
      el("tbody", {}, ...rows.map(([name, score, rank]) => el("tr", {},
        el("th", { scope: "row", text: name }), el("td", { text: fixed(score, 4) }), el("td", { text: rank ? String(rank) : score === null || score === undefined ? "not retrieved" : "–" }))))),
    el("p", { text: matched.length ? `Matched terms: ${matched.join("; ")}` : "No query term matched (found by meaning only)." }),
    hit.item.description ? el("p", { class: "snippet" }, highlighted(hit.item.description, spans.description, 400)) : null);
}

function renderFacets(facets) {
  const groups = [];
  for (const [field, label] of [["brand", "Brand"], ["category", "Category"]]) {
    const values = facets[field] || [];
    const chosen = state.filters[field];
    const shown = new Map(values.map((f) => [f.value, f.count]));
    for (const value of chosen) if (!shown.has(value)) shown.set(value, 0);
    if (!shown.size) continue;
    groups.push(el("h2", { text: label }), el("ul", {}, ...[...shown].map(([value, count]) => {
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
  if (bands.length || state.filters.price) {
    const current = state.filters.price;
    const options = bands.map((band) => ({ ...band, label: `${money(band.from)} – ${band.to === null ? "" : money(band.to)}` }));
    groups.push(el("h2", { text: "Price" }), el("ul", {},
      ...[{ from: null, to: null, label: "any price", count: null }, ...options].map((band) => {
        const selected = band.from === null ? !current : current && current.from === band.from && current.to === band.to;
        const radio = el("input", { type: "radio", name: "price-band", checked: selected, "data-facet": "price" });
        radio.addEventListener("change", () => {
          state.filters.price = band.from === null ? null : { from: band.from, to: band.to };
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
}

$("weight").addEventListener("input", () => { $("weight-value").textContent = Number($("weight").value).toFixed(2); });
$("mode").addEventListener("change", () => { $("weight").disabled = $("mode").value === "keyword" || $("mode").value === "vector"; });
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = $("q").value.trim();
  if (query !== state.query) state.filters = { brand: new Set(), category: new Set(), price: null };
  Object.assign(state, { query, mode: $("mode").value, weight: $("weight").value, page: 0 });
  runSearch();
});
$("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); runSearch(); });
$("next").addEventListener("click", () => { state.page += 1; runSearch(); });

// ---- compare -----------------------------------------------------------------------------
$("compare-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  const query = $("cq").value.trim();
  const sides = ["left", "right"].map((side) => ({ side, mode: $(`${side}-mode`).value, weight: $(`${side}-weight`).value }));
  try {
    const [left, right] = await Promise.all(sides.map((s) => api("/v1/search", searchBody(query, s.mode, s.weight, { k: PAGE_SIZE }))));
    const before = new Map(left.results.map((hit, i) => [hit.id, i]));
    for (const [s, answer] of [[sides[0], left], [sides[1], right]]) {
      $(`${s.side}-title`).textContent = `${s.mode}${s.mode.startsWith("hybrid") ? `, vector weight ${s.weight}` : ""} (${answer.took_ms.toFixed(1)} ms)`;
      $(`${s.side}-results`).replaceChildren(...answer.results.map((hit, i) => {
        const line = el("li", { "data-id": hit.id }, el("span", { text: hit.item.title || hit.id }));
        if (s.side === "right") {
          const was = before.get(hit.id);
          const mark = was === undefined ? ["new", "new", "new in the top 10"]
            : was > i ? ["up", `▲${was - i}`, `up ${was - i}`] : was < i ? ["down", `▼${i - was}`, `down ${i - was}`] : null;
          if (mark) line.append(el("span", { class: `moved ${mark[0]}`, text: mark[1], "aria-label": mark[2], title: mark[2] }));
        }
        return line;
      }));
    }
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

// On a phone the filters start folded, so the first results are on the first screen.
if (window.matchMedia("(max-width: 720px)").matches) $("filters").open = false;

const onTabShown = { "tab-rerank": checkReranker, "tab-eval": listJudgments };
