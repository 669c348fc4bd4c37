// The playground: asks /health/ready which models and tasks the server runs, offers the chosen task's
// form, posts it to the server's Hugging Face task API (POST /, or POST /models/<name> on a server of
// several models) and draws the answer. Plain JavaScript, no build step,
// nothing fetched from elsewhere: the page works offline and under a strict Content-Security-Policy.
"use strict";

(() => {
  // Relative to the page (served at <base>/ui), so a path prefix added by a proxy still works.
  const READY_URL = new URL("health/ready", document.baseURI);
  const DEFAULT_URL = new URL("./", document.baseURI);
  const KEY_STORAGE = "bert-playground.api-key";
  const RETRY_READY_MS = 2000;
  const MASK_PATTERN = /\[mask\]|<mask>/gi; // the markers the server accepts, any case

  const byId = (id) => document.getElementById(id);
  const value = (id) => byId(id).value;

  // Each task: how its form becomes a request body, and how its answer is drawn.
  const TASKS = {
    "fill-mask": {
      title: "Fill-mask",
      request: () => ({
        inputs: value("fill-mask-text"),
        parameters: { top_k: Number(value("fill-mask-top-k")) || 5 },
      }),
      render: renderFillMask,
    },
    "text-classification": {
      title: "Text classification",
      request: (served) => {
        const text = value("classification-text");
        const pair = value("classification-text-pair").trim();
        const body = { inputs: pair ? { text, text_pair: pair } : text };
        if (served.labels) body.parameters = { top_k: served.labels.length };
        return body;
      },
      render: (answer) => renderLabelBars(answer, "Scores per label"),
    },
    "token-classification": {
      title: "Named entities",
      request: () => ({ inputs: value("ner-text"), parameters: { aggregation_strategy: "simple" } }),
      render: renderEntities,
    },
    "question-answering": {
      title: "Question answering",
      request: () => ({ inputs: { question: value("qa-question"), context: value("qa-context") } }),
      render: renderAnswerSpan,
    },
    "next-sentence-prediction": {
      title: "Next-sentence prediction",
      request: () => ({ inputs: { text: value("nsp-text"), text_pair: value("nsp-text-pair") } }),
      render: (answer) => renderLabelBars(answer, "Does the second sentence follow the first?"),
    },
    "feature-extraction": {
      title: "Similarity",
      request: () => ({
        inputs: {
          source_sentence: value("similarity-query"),
          sentences: value("similarity-texts").split("\n").filter((line) => line.trim()),
        },
      }),
      render: renderSimilarity,
    },
  };

  // The chosen model: its name (null on a server of one), tasks and labels; `models`: every ready one.
  const served = { name: null, tasks: [], labels: null, models: [] };

  document.addEventListener("DOMContentLoaded", () => {
    restoreApiKey();
    byId("playground").addEventListener("submit", (event) => {
      event.preventDefault();
      run();
    });
    byId("playground").addEventListener("input", showCurl);
    byId("playground").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) byId("submit").click();
    });
    byId("task").addEventListener("change", showTaskForm);
    byId("model").addEventListener("change", () => chooseModel(value("model")));
    byId("remember-key").addEventListener("change", rememberApiKey);
    byId("api-key").addEventListener("input", rememberApiKey);
    byId("copy-curl").addEventListener("click", copyCurl);
    askWhatIsServed();
  });

  async function askWhatIsServed() {
    const status = byId("model-status");
    try {
      const response = await fetch(READY_URL, { cache: "no-store" });
      const body = await readJson(response);
      if (!response.ok) {
        status.textContent = `The model is not ready yet (${response.status}): ${errorText(body)} Retrying…`;
        setTimeout(askWhatIsServed, RETRY_READY_MS);
        return;
      }
      const models = (body.models || []).filter((model) => model.state === "READY");
      served.models = models.length > 1 ? models : [{ ...body, name: null }];
      offerModels();
      chooseModel(models.length > 1 ? body.default_model : null);
    } catch (error) {
      status.textContent = `Cannot reach the server: ${error.message}. Retrying…`;
      setTimeout(askWhatIsServed, RETRY_READY_MS);
    }
  }

  function offerModels() {
    const several = served.models.length > 1;
    const options = several ? served.models.map((model) => new Option(model.name, model.name)) : [];
    byId("model").replaceChildren(...options);
    byId("model-choice").hidden = !several;
  }

  function chooseModel(name) {
    const model = served.models.find((candidate) => candidate.name === name) || served.models[0];
    served.name = model.name;
    served.tasks = (model.tasks || []).filter((task) => task in TASKS);
    served.labels = Array.isArray(model.labels) ? model.labels : null;
    if (served.name !== null) byId("model").value = served.name;
    byId("model-status").textContent = describeModel(model);
    offerTasks();
  }

  // POST / on a server of one model; POST /models/<name> where the page offers several.
  function predictUrl() {
    if (served.name === null) return DEFAULT_URL;
    return new URL(`models/${encodeURIComponent(served.name)}`, document.baseURI);
  }

  function describeModel(body) {
    const tasks = (body.tasks || []).map((task) => TASKS[task]?.title || task).join(", ");
    byId("model-status").title = body.model;
    return `${displayName(body.model)} · ${tasks} · ${body.precision} on ${body.device}`;
  }

  // A local folder is shown by its name (the full path is the tooltip); a hub id as it is.
  function displayName(model) {
    const isPath = /^[/.~]|^[A-Za-z]:\\/.test(model);
    return isPath ? model.replace(/[/\\]+$/, "").split(/[/\\]/).pop() : model;
  }

  function offerTasks() {
    const choice = byId("task");
    choice.replaceChildren(
      ...served.tasks.map((task) => new Option(TASKS[task].title, task)),
    );
    byId("task-choice").hidden = served.tasks.length < 2;
    byId("playground").hidden = served.tasks.length === 0;
    byId("curl-card").hidden = served.tasks.length === 0;
    if (served.tasks.length === 0) {
      byId("model-status").textContent += " — no task this page knows how to show.";
      return;
    }
    showTaskForm();
  }

  function currentTask() {
    return byId("task").value;
  }

  function showTaskForm() {
    for (const fieldset of document.querySelectorAll(".task-form")) {
      fieldset.hidden = fieldset.dataset.task !== currentTask();
    }
    showCurl();
  }

  // The request the form describes now: what Run sends and what the curl command shows.
  function currentRequest() {
    return TASKS[currentTask()].request(served);
  }

  async function run() {
    const task = currentTask();
    const body = currentRequest();
    const headers = { "Content-Type": "application/json" };
    const key = value("api-key");
    if (key) headers.Authorization = `Bearer ${key}`;
    setBusy(true);
    try {
      const response = await fetch(predictUrl(), { method: "POST", headers, body: JSON.stringify(body) });
      const answer = await readJson(response);
      byId("request-id").textContent = response.headers.get("x-request-id")
        ? `Request id ${response.headers.get("x-request-id")}`
        : "";
      if (!response.ok) {
        showError(describeError(response, answer));
        return;
      }
      try {
        showResult(TASKS[task].render(answer, body));
      } catch (error) {
        showError(`The server answered ${JSON.stringify(answer)}, which this page cannot draw: ${error.message}`);
      }
    } catch (error) {
      showError(`The request failed before the server answered: ${error.message}`);
    } finally {
      setBusy(false);
    }
  }

  async function readJson(response) {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  // The server's own words: Azure-style {"message"}, the HF/v2 style {"error"}, or FastAPI's {"detail"}.
  function errorText(body) {
    if (body && typeof body === "object") {
      const said = body.message ?? body.error ?? body.detail;
      return typeof said === "string" ? said : JSON.stringify(said ?? body);
    }
    return String(body || "");
  }

  function describeError(response, body) {
    let text = `${response.status} ${response.statusText}: ${errorText(body)}`.replace(/:\s*$/, "");
    const retryAfter = response.headers.get("retry-after");
    if (retryAfter) text += ` Retry after ${retryAfter} s.`;
    if (response.status === 401) text += " Check the API key below.";
    return text;
  }

  function setBusy(busy) {
    byId("submit").disabled = busy;
    byId("busy").hidden = !busy;
    byId("result").setAttribute("aria-busy", String(busy));
  }

  function showResult(node) {
    byId("answer-card").hidden = false;
    byId("error").hidden = true;
    byId("error").textContent = "";
    byId("result").replaceChildren(node);
  }

  function showError(text) {
    byId("answer-card").hidden = false;
    byId("result").replaceChildren();
    byId("error").textContent = text;
    byId("error").hidden = false;
  }

  // ---- drawing answers -------------------------------------------------------------------------

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, attribute] of Object.entries(attributes)) node.setAttribute(name, attribute);
    node.append(...children);
    return node;
  }

  function formatScore(score) {
    return score.toFixed(4);
  }

  // One row per candidate: name, a bar as long as the score, the score. data-* carry exact values.
  function bars(rows, label) {
    const list = element("ol", { class: "bars", "aria-label": label });
    for (const { name, score } of rows) {
      const fill = element("span", { class: "bar-fill" });
      fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
      list.append(
        element(
          "li",
          { class: "bar-row", "data-label": name, "data-score": String(score) },
          element("span", { class: "bar-label" }, name),
          element("span", { class: "bar-track", "aria-hidden": "true" }, fill),
          element("span", { class: "bar-score" }, formatScore(score)),
        ),
      );
    }
    return list;
  }

  function renderFillMask(answer, request) {
    // One mask: a list of candidates. Several: one list per mask, in order.
    const perMask = Array.isArray(answer[0]) ? answer : [answer];
    const container = element("div", { class: "fill-mask" });
    const sentence = element("p", { class: "completed", "data-role": "completed-sentence" });
    let mask = 0;
    let last = 0;
    for (const found of request.inputs.matchAll(MASK_PATTERN)) {
      sentence.append(request.inputs.slice(last, found.index));
      const best = perMask[mask]?.[0];
      sentence.append(best ? element("mark", {}, best.token_str.trim()) : found[0]);
      last = found.index + found[0].length;
      mask += 1;
    }
    sentence.append(request.inputs.slice(last));
    container.append(element("h3", {}, "Completed sentence"), sentence);
    perMask.forEach((candidates, index) => {
      const title = perMask.length > 1 ? `Mask ${index + 1}` : "Candidates";
      const group = element("div", { class: "mask-group", "data-mask": String(index) });
      group.append(
        element("h3", {}, title),
        bars(
          candidates.map((c) => ({ name: c.token_str, score: c.score })),
          `${title}: candidates and scores`,
        ),
      );
      container.append(group);
    });
    return container;
  }

  function renderLabelBars(answer, label) {
    const rows = Array.isArray(answer[0]) ? answer[0] : answer;
    const sorted = [...rows].sort((a, b) => b.score - a.score);
    return bars(
      sorted.map((row) => ({ name: row.label, score: row.score })),
      label,
    );
  }

  // Sentence-similarity answers one cosine per text, in the texts' order: drawn best first.
  function renderSimilarity(answer, request) {
    const rows = request.inputs.sentences.map((text, index) => ({ name: text, score: answer[index] }));
    return bars(
      rows.sort((a, b) => b.score - a.score),
      "Cosine similarity of each text to the query",
    );
  }

  // The server's offsets count Unicode code points (Python's str); JavaScript's count UTF-16 units.
  function codePointSlice(characters, start, end) {
    return characters.slice(start, end).join("");
  }

  function renderEntities(answer, request) {
    const characters = Array.from(request.inputs);
    const entities = [...answer].sort((a, b) => a.start - b.start);
    const text = element("p", { class: "highlighted-text", "data-role": "entities-text" });
    let cursor = 0;
    for (const entity of entities) {
      if (entity.start < cursor) continue;
      text.append(codePointSlice(characters, cursor, entity.start));
      text.append(
        element(
          "mark",
          {
            class: "entity",
            "data-entity": entity.entity_group,
            "data-start": String(entity.start),
            "data-end": String(entity.end),
            "data-score": String(entity.score),
            title: `${entity.entity_group} ${formatScore(entity.score)}`,
          },
          element("span", { class: "entity-text" }, codePointSlice(characters, entity.start, entity.end)),
          element("span", { class: "entity-tag" }, entity.entity_group),
        ),
      );
      cursor = entity.end;
    }
    text.append(codePointSlice(characters, cursor, characters.length));
    if (entities.length === 0) {
      return element("div", {}, text, element("p", { class: "note" }, "No entities found."));
    }
    const rows = entities.map((entity) =>
      element(
        "tr",
        {},
        element("td", {}, entity.entity_group),
        element("td", {}, entity.word),
        element("td", { class: "number" }, formatScore(entity.score)),
      ),
    );
    const table = element(
      "table",
      { class: "entities" },
      element("caption", {}, "Entities"),
      element(
        "thead",
        {},
        element(
          "tr",
          {},
          element("th", { scope: "col" }, "Type"),
          element("th", { scope: "col" }, "Word"),
          element("th", { scope: "col", class: "number" }, "Score"),
        ),
      ),
      element("tbody", {}, ...rows),
    );
    return element("div", {}, text, table);
  }

  function renderAnswerSpan(answer, request) {
    const best = Array.isArray(answer) ? answer[0] : answer;
    const context = request.inputs.context;
    const container = element("div", { class: "qa" });
    if (!best || best.start === best.end) {
      container.append(element("p", { class: "note" }, "No answer in the context."));
      container.append(element("p", { class: "highlighted-text" }, context));
      return container;
    }
    const characters = Array.from(context);
    container.append(
      element(
        "p",
        { class: "qa-answer" },
        "Answer: ",
        element("strong", { "data-role": "answer" }, best.answer),
        element("span", { class: "bar-score" }, ` score ${formatScore(best.score)}`),
      ),
      element(
        "p",
        { class: "highlighted-text", "data-role": "context" },
        codePointSlice(characters, 0, best.start),
        element(
          "mark",
          { "data-start": String(best.start), "data-end": String(best.end), "data-score": String(best.score) },
          codePointSlice(characters, best.start, best.end),
        ),
        codePointSlice(characters, best.end, characters.length),
      ),
    );
    return container;
  }

  // ---- curl and the API key --------------------------------------------------------------------

  function shellQuote(text) {
    return `'${text.replace(/'/g, `'\\''`)}'`;
  }

  // The key itself never appears on screen: the command reads it from $API_KEY.
  function curlCommand() {
    const lines = [
      `curl -s -X POST ${shellQuote(predictUrl().href)}`,
      `-H 'Content-Type: application/json'`,
    ];
    if (value("api-key")) lines.push(`-H "Authorization: Bearer $API_KEY"`);
    lines.push(`-d ${shellQuote(JSON.stringify(currentRequest()))}`);
    return lines.join(" \\\n  ");
  }

  function showCurl() {
    if (!currentTask()) return;
    byId("curl").textContent = curlCommand();
    byId("copy-status").textContent = "";
  }

  async function copyCurl() {
    const text = byId("curl").textContent;
    const status = byId("copy-status");
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "Copied.";
    } catch {
      // Clipboard access needs a secure context (https or localhost): fall back to a selection.
      const range = document.createRange();
      range.selectNodeContents(byId("curl"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C to copy.";
    }
  }

  function restoreApiKey() {
    const saved = sessionStorage.getItem(KEY_STORAGE);
    if (saved) {
      byId("api-key").value = saved;
      byId("remember-key").checked = true;
      byId("api-key-details").open = true;
    }
  }

  function rememberApiKey() {
    if (byId("remember-key").checked && value("api-key")) {
      sessionStorage.setItem(KEY_STORAGE, value("api-key"));
    } else {
      sessionStorage.removeItem(KEY_STORAGE);
    }
    showCurl();
  }
})();
