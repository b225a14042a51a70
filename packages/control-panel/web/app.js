// IronCage control panel frontend: plain JavaScript, no build step.
// Talks to the API through relative /api/ URLs (proxied to the backend).
"use strict";

(function () {
  const TOKEN_KEY = "ironcage-token";
  const API = "/api";

  const $ = (id) => document.getElementById(id);

  function getToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || "";
    } catch (_err) {
      return "";
    }
  }

  function setToken(value) {
    try {
      if (value) {
        window.localStorage.setItem(TOKEN_KEY, value);
      } else {
        window.localStorage.removeItem(TOKEN_KEY);
      }
    } catch (_err) {
      showError("Could not store the token in this browser.");
    }
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  function clearError() {
    showError("");
  }

  async function api(path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    const token = getToken();
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    const response = await fetch(API + path, {
      method: opts.method || "GET",
      headers: headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: "no-store",
    });
    if (response.status === 204) {
      return null;
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_err) {
      data = null;
    }
    if (!response.ok) {
      let message = (data && data.error) || response.status + " " + response.statusText;
      if (response.status === 401) {
        message = "Unauthorized: enter a valid API token above. (" + message + ")";
      }
      throw new Error(message);
    }
    return data;
  }

  function formatDate(value) {
    const date = new Date(value);
    return isNaN(date.getTime()) ? value : date.toLocaleString();
  }

  function renderAgents(agents) {
    const tbody = $("agents").querySelector("tbody");
    tbody.replaceChildren();
    for (const agent of agents) {
      const row = document.createElement("tr");
      row.dataset.id = String(agent.id);

      const name = document.createElement("td");
      name.className = "agent-name";
      name.textContent = agent.name;

      const description = document.createElement("td");
      description.className = "agent-description";
      description.textContent = agent.description;

      const created = document.createElement("td");
      const time = document.createElement("time");
      time.dateTime = agent.created_at;
      time.textContent = formatDate(agent.created_at);
      created.appendChild(time);

      const actions = document.createElement("td");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", "Delete agent " + agent.name);
      remove.addEventListener("click", () => deleteAgent(agent));
      actions.appendChild(remove);

      row.append(name, description, created, actions);
      tbody.appendChild(row);
    }
    $("empty").hidden = agents.length > 0;
  }

  async function refresh() {
    if (!getToken()) {
      renderAgents([]);
      showError("Enter the API token to list agents.");
      return;
    }
    try {
      const data = await api("/agents");
      renderAgents(data.agents || []);
      clearError();
    } catch (err) {
      showError(err.message);
    }
  }

  async function deleteAgent(agent) {
    if (!window.confirm("Delete agent " + agent.name + "?")) {
      return;
    }
    try {
      await api("/agents/" + encodeURIComponent(agent.id), { method: "DELETE" });
      await refresh();
    } catch (err) {
      showError(err.message);
    }
  }

  async function createAgent(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const body = {
      name: form.elements.name.value.trim(),
      description: form.elements.description.value.trim(),
    };
    try {
      await api("/agents", { method: "POST", body: body });
      form.reset();
      clearError();
      await refresh();
    } catch (err) {
      showError(err.message);
    }
  }

  async function loadVersion() {
    try {
      const response = await fetch(API + "/health", { cache: "no-store" });
      const data = await response.json();
      if (data && data.version) {
        $("version").textContent = "v" + data.version;
      }
    } catch (_err) {
      $("version").textContent = "(backend unreachable)";
    }
  }

  function init() {
    const tokenInput = $("token");
    tokenInput.value = getToken();
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      setToken(tokenInput.value.trim());
      refresh();
    });
    $("token-clear").addEventListener("click", () => {
      tokenInput.value = "";
      setToken("");
      refresh();
    });
    $("create-agent").addEventListener("submit", createAgent);
    $("refresh").addEventListener("click", refresh);
    loadVersion();
    refresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
