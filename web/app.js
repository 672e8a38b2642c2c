// The key manager page: sign in with a token, then see every provider the vault
// supports at a glance (one compact row each: key hint, last test, usage, number of
// keys) and open the one to act on: test a key (with its endpoint, for Azure OpenAI
// and OpenAI-compatible servers) and save it only after a valid test, as the key or
// as another one (up to five, in the order the app uses them); change settings;
// delete with confirmation. The providers come from the vault's registry
// (GET /api/providers), so a provider added there appears here without an edit.
//
// Keys live only in their password field: never in storage, never logged, cleared
// after a save. The token (not a key) is kept in sessionStorage for reloads.

const API = (window.APIKEYS_CONFIG && window.APIKEYS_CONFIG.apiBaseUrl) || "";
const TOKEN_KEY = "apikeys.token";
// The most keys a provider keeps (the API's `limit`).
const MAX_KEYS = 5;


const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
const cards = new Map();

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.error || body.message)) || `The API answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    signOut("Your sign-in has expired or was refused; sign in again.");
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function claimsOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "never";
}

function notice(text) {
  $("notice").textContent = text;
}

// ---------------------------------------------------------------- sign-in

function signIn(newToken) {
  const claims = claimsOf(newToken);
  if (!claims || !claims.sub) {
    $("signin-error").textContent = "That is not a token with a user (sub).";
    return;
  }
  token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin-error").textContent = "";
  $("token").value = "";
  $("who").textContent = claims.sub;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  $("providers").hidden = false;
  start();
}

function signOut(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("signed-out").hidden = false;
  $("signed-in").hidden = true;
  $("providers").hidden = true;
  for (const card of cards.values()) resetKey(card);
  notice(message || "");
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value.trim());
});

$("dev-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  try {
    const response = await fetch(`${API}/local/dev-token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: $("dev-user").value.trim() }),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.message);
    signIn(data.token);
  } catch (error) {
    $("signin-error").textContent = `No development token: ${error.message}`;
  }
});

$("signout").addEventListener("click", () => signOut("Signed out."));

// The local API mints development tokens while it uses its own issuer, whose keys it
// then serves; a deployed API does neither.
async function offerDevSignIn() {
  try {
    const response = await fetch(`${API}/.well-known/jwks.json`);
    $("dev-form").hidden = !response.ok;
  } catch {
    $("dev-form").hidden = true;
  }
}

// ---------------------------------------------------------------- providers

function fieldId(provider, name) {
  return `${provider}-${name}`;
}

// The registry's providers, once per sign-in: the rows are built from them.
async function start() {
  if (cards.size === 0) {
    try {
      const data = await api("GET", "/api/providers");
      for (const entry of data.providers) {
        buildCard({
          id: entry.id,
          name: entry.displayName,
          hint: entry.keyPlaceholder,
          keyOptional: entry.keyOptional,
          endpoint: entry.endpoint,
        });
      }
    } catch (error) {
      notice(`Could not load the providers: ${error.message}`);
      return;
    }
  }
  refresh();
}

function buildCard(provider) {
  const node = $("provider-template").content.firstElementChild.cloneNode(true);
  const q = (selector) => node.querySelector(selector);
  const card = {
    provider,
    node,
    details: q(".details"),
    manageButton: q(".manage-button"),
    endpointError: q(".endpoint-error"),
    baseUrlInput: q(".baseurl-input"),
    azureEndpointInput: q(".azure-endpoint-input"),
    azureVersionInput: q(".azure-version-input"),
    azureDeploymentInput: q(".azure-deployment-input"),
    config: null,
    testedValid: false,
    keyInput: q(".key-input"),
    keyError: q(".key-error"),
    testButton: q(".test-button"),
    saveButton: q(".save-button"),
    deleteButton: q(".delete-button"),
    result: q(".test-result"),
    settingsForm: q(".settings-form"),
    modelInput: q(".model-input"),
    jsonInput: q(".json-input"),
    settingsError: q(".settings-error"),
    addButton: q(".add-button"),
    another: q(".another"),
    nameInput: q(".name-input"),
    keys: q(".keys"),
    keyList: q(".key-list"),
  };
  node.setAttribute("aria-labelledby", fieldId(provider.id, "title"));
  const title = q(".provider-name");
  title.id = fieldId(provider.id, "title");
  title.textContent = provider.name;
  const wire = (input, label, labelText, error, name) => {
    input.id = fieldId(provider.id, name);
    input.name = name;
    label.htmlFor = input.id;
    label.textContent = labelText;
    if (error) {
      error.id = `${input.id}-error`;
      input.setAttribute("aria-describedby", error.id);
    }
  };
  wire(card.keyInput, q(".key-label"), `${provider.name} API key${provider.keyOptional ? " (optional)" : ""}`, card.keyError, "apiKey");
  card.keyInput.placeholder = provider.hint;
  // Only the provider's own endpoint fields are shown (the registry says which).
  q(".endpoint-baseurl").hidden = provider.endpoint !== "baseUrl";
  q(".endpoint-azure").hidden = provider.endpoint !== "azure";
  wire(card.baseUrlInput, q(".baseurl-label"), "Base URL (with its /v1)", card.endpointError, "baseUrl");
  wire(card.azureEndpointInput, q(".azure-endpoint-label"), "Resource endpoint", card.endpointError, "endpoint");
  wire(card.azureVersionInput, q(".azure-version-label"), "API version", null, "apiVersion");
  wire(card.azureDeploymentInput, q(".azure-deployment-label"), "Deployment (optional)", null, "deployment");
  const details = q(".details");
  details.id = fieldId(provider.id, "details");
  card.manageButton.setAttribute("aria-controls", details.id);
  card.manageButton.append("Manage");
  const who = document.createElement("span");
  who.className = "visually-hidden";
  who.textContent = ` ${provider.name}`;
  card.manageButton.append(who);
  card.manageButton.addEventListener("click", () => toggle(card));
  wire(card.nameInput, q(".name-label"), "Label of another key", null, "label");
  wire(card.modelInput, q(".model-label"), "Model", null, "model");
  wire(card.jsonInput, q(".json-label"), "Other settings (JSON object)", card.settingsError, "settings");
  card.result.id = fieldId(provider.id, "test-result");

  card.keyInput.addEventListener("input", () => {
    card.testedValid = false;
    card.saveButton.disabled = true;
    card.addButton.disabled = true;
    card.result.textContent = "";
    card.keyError.textContent = "";
  });
  // A tested key is tested with its endpoint: changing either asks for a new test.
  for (const input of [card.baseUrlInput, card.azureEndpointInput, card.azureVersionInput, card.azureDeploymentInput]) {
    input.addEventListener("input", () => {
      card.testedValid = false;
      card.saveButton.disabled = true;
      card.addButton.disabled = true;
      card.endpointError.textContent = "";
    });
  }
  card.testButton.addEventListener("click", () => testKey(card));
  q(".key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveKey(card);
  });
  card.deleteButton.addEventListener("click", () => deleteKey(card));
  card.addButton.addEventListener("click", () => addKey(card));
  card.settingsForm.addEventListener("submit", (event) => {
    event.preventDefault();
    saveSettings(card);
  });
  $("providers").append(node);
  cards.set(provider.id, card);
}

// Opens one provider's forms (and closes the one open before).
function toggle(card) {
  const open = card.details.hidden;
  for (const other of cards.values()) {
    other.details.hidden = true;
    other.manageButton.setAttribute("aria-expanded", "false");
    other.node.classList.remove("open");
  }
  card.details.hidden = !open;
  card.manageButton.setAttribute("aria-expanded", String(open));
  card.node.classList.toggle("open", open);
  if (open) card.keyInput.focus();
}

// The endpoint fields of the card as the API takes them; undefined for a provider
// without any.
function endpointOf(card) {
  if (card.provider.endpoint === "baseUrl") {
    const baseUrl = card.baseUrlInput.value.trim();
    return baseUrl ? { baseUrl } : undefined;
  }
  if (card.provider.endpoint === "azure") {
    const endpoint = { endpoint: card.azureEndpointInput.value.trim(), apiVersion: card.azureVersionInput.value.trim() };
    const deployment = card.azureDeploymentInput.value.trim();
    if (deployment) endpoint.deployment = deployment;
    return endpoint.endpoint ? endpoint : undefined;
  }
  return undefined;
}

function withEndpoint(card, body) {
  const endpoint = endpointOf(card);
  return endpoint ? { ...body, endpoint } : body;
}

function show(card, config) {
  card.config = config;
  const q = (selector) => card.node.querySelector(selector);
  const keyCount = (config && config.keys && config.keys.length) || (config ? 1 : 0);
  q(".fact-count").textContent = keyCount ? `${keyCount} of ${MAX_KEYS}` : "—";
  card.node.classList.toggle("empty", !config);
  if (!config) {
    q(".fact-key").textContent = "No key saved";
    q(".fact-test").textContent = "—";
    q(".fact-usage").textContent = "—";
    q(".fact-rotation").textContent = "—";
    q(".fact-expiry").textContent = "—";
  } else {
    q(".fact-key").textContent = config.keyHint || "saved";
    q(".fact-test").textContent = config.lastValidationStatus
      ? `${config.lastValidationStatus}, ${when(config.lastValidatedAt)}`
      : "not tested yet";
    q(".fact-usage").textContent = `${config.usageCount} uses, last ${when(config.lastUsedAt)}${proxied(config.keys)}`;
    q(".fact-rotation").textContent = config.rotationDue ? "Due: replace this key" : "Not due";
    q(".fact-expiry").textContent = config.expired
      ? "Expired: the app no longer uses this key"
      : config.expiresAt
        ? `Expires ${when(config.expiresAt)}`
        : "Never expires";
    const { model, ...rest } = config.settings || {};
    card.modelInput.value = typeof model === "string" ? model : "";
    card.jsonInput.value = Object.keys(rest).length ? JSON.stringify(rest, null, 2) : "";
  }
  card.deleteButton.hidden = !config;
  card.settingsForm.hidden = !config;
  card.saveButton.textContent = config ? "Replace key" : "Save key";
  card.deleteButton.textContent = config && config.keys && config.keys.length > 1 ? "Delete all keys" : "Delete key";
  const keys = (config && config.keys) || [];
  card.addButton.hidden = !config || keys.length >= MAX_KEYS;
  card.another.hidden = card.addButton.hidden;
  showKeys(card, keys);
}

// What calls through the vault's proxy spent this month on the provider's keys.
function proxied(keys) {
  const months = (keys || []).map((key) => key.monthUsage).filter(Boolean);
  if (!months.length) return "";
  const sum = (field) => months.reduce((total, usage) => total + usage[field], 0);
  const tokens = sum("inputTokens") + sum("outputTokens");
  return `; this month through the proxy: ${sum("requests")} calls, ${tokens.toLocaleString("en")} tokens`;
}

// Every key of the provider (the primary first, then in the order the app falls back
// to them), with what the app's servers last reported of it.
function showKeys(card, keys) {
  card.keys.hidden = keys.length < 2;
  card.keyList.replaceChildren();
  keys.forEach((key, index) => {
    const item = document.createElement("li");
    const name = key.label || `Key ${index + 1}`;
    const status = key.expired
      ? "expired"
      : key.unavailable
        ? `skipped for now: ${key.unavailable}`
        : key.primary
          ? "used first"
          : "used when the ones above are not";
    const text = document.createElement("span");
    const usage = key.monthUsage
      ? ` · ${(key.monthUsage.inputTokens + key.monthUsage.outputTokens).toLocaleString("en")} tokens this month`
      : "";
    text.textContent = `${name} · ${key.keyHint || "saved"} · ${status}${usage}`;
    item.append(text);
    if (!key.primary) {
      const primary = document.createElement("button");
      primary.type = "button";
      primary.textContent = `Use ${name} first`;
      primary.addEventListener("click", () => makePrimary(card, key));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = `Delete ${name}`;
      remove.addEventListener("click", () => deleteOneKey(card, key, name));
      item.append(primary, remove);
    }
    card.keyList.append(item);
  });
}

function resetKey(card) {
  card.keyInput.value = "";
  card.nameInput.value = "";
  card.testedValid = false;
  card.saveButton.disabled = true;
  card.addButton.disabled = true;
}

async function refresh() {
  try {
    const data = await api("GET", "/api/provider-configs");
    const byProvider = new Map(data.configs.map((c) => [c.provider, c]));
    for (const card of cards.values()) show(card, byProvider.get(card.provider.id) || null);
  } catch (error) {
    notice(`Could not load your keys: ${error.message}`);
  }
}

// Where the API's field errors of a key and its endpoint go.
function endpointFields(card) {
  return {
    apiKey: card.keyError,
    endpoint: card.endpointError,
    "endpoint.baseUrl": card.endpointError,
    "endpoint.endpoint": card.endpointError,
    "endpoint.apiVersion": card.endpointError,
    "endpoint.deployment": card.endpointError,
    default: card.keyError,
  };
}

// Field errors next to the field the API names; the rest in the notice.
function showErrors(card, error, fields) {
  const details = (error.body && error.body.details) || [];
  let placed = false;
  for (const detail of details) {
    const target = fields[detail.field];
    if (target) {
      target.textContent = detail.message;
      placed = true;
    }
  }
  if (!placed) (fields.default || $("notice")).textContent = error.message;
}

function showResult(card, result) {
  card.result.className = `test-result ${result.valid ? "valid" : "refused"}`;
  card.result.textContent = `${result.status}: ${result.message}`;
}

async function testKey(card) {
  card.keyError.textContent = "";
  card.endpointError.textContent = "";
  if (!card.keyInput.value.trim() && !card.provider.keyOptional) {
    card.keyError.textContent = "Enter a key to test.";
    card.keyInput.focus();
    return;
  }
  card.testButton.disabled = true;
  card.result.className = "test-result";
  card.result.textContent = "Testing…";
  try {
    const result = await api("POST", "/api/test-api-key", withEndpoint(card, {
      provider: card.provider.id,
      apiKey: card.keyInput.value,
    }));
    showResult(card, result);
    card.testedValid = result.valid;
    card.saveButton.disabled = !result.valid;
    card.addButton.disabled = !result.valid;
  } catch (error) {
    card.result.textContent = "";
    showErrors(card, error, endpointFields(card));
  } finally {
    card.testButton.disabled = false;
  }
}

async function saveKey(card) {
  if (!card.testedValid) return;
  card.saveButton.disabled = true;
  try {
    const data = await api("POST", "/api/provider-configs", withEndpoint(card, {
      provider: card.provider.id,
      apiKey: card.keyInput.value,
      validate: true,
    }));
    resetKey(card);
    card.result.className = "test-result valid";
    card.result.textContent = `Saved: ${data.config.keyHint}`;
    show(card, data.config);
  } catch (error) {
    if (error.body && error.body.test) showResult(card, error.body.test);
    showErrors(card, error, endpointFields(card));
    card.testedValid = false;
  }
}

async function saveSettings(card) {
  card.settingsError.textContent = "";
  let settings = {};
  const text = card.jsonInput.value.trim();
  if (text) {
    try {
      settings = JSON.parse(text);
    } catch {
      card.settingsError.textContent = "Other settings must be JSON, e.g. {\"temperature\": 0.7}.";
      card.jsonInput.focus();
      return;
    }
    if (typeof settings !== "object" || settings === null || Array.isArray(settings)) {
      card.settingsError.textContent = "Other settings must be a JSON object.";
      card.jsonInput.focus();
      return;
    }
  }
  const model = card.modelInput.value.trim();
  if (model) settings = { ...settings, model };
  try {
    const data = await api("PUT", "/api/provider-configs", { provider: card.provider.id, settings });
    show(card, data.config);
    notice(`${card.provider.name}: settings saved.`);
  } catch (error) {
    showErrors(card, error, { settings: card.settingsError, default: card.settingsError });
  }
}

async function deleteKey(card) {
  const count = (card.config && card.config.keys && card.config.keys.length) || 1;
  const what = count > 1 ? `all ${count} of your ${card.provider.name} keys` : `your ${card.provider.name} key`;
  if (!window.confirm(`Delete ${what}? This cannot be undone.`)) return;
  try {
    await api("DELETE", `/api/provider-configs/${encodeURIComponent(card.provider.id)}`);
    resetKey(card);
    card.result.textContent = "";
    show(card, null);
    notice(`${card.provider.name}: key deleted.`);
  } catch (error) {
    showErrors(card, error, { default: card.keyError });
  }
}

async function addKey(card) {
  if (!card.testedValid) return;
  card.addButton.disabled = true;
  const body = withEndpoint(card, { apiKey: card.keyInput.value, validate: true });
  const label = card.nameInput.value.trim();
  if (label) body.label = label;
  try {
    const data = await api("POST", `/api/provider-configs/${encodeURIComponent(card.provider.id)}/keys`, body);
    resetKey(card);
    card.result.className = "test-result valid";
    card.result.textContent = `Added: ${data.key.keyHint}`;
    await refresh();
  } catch (error) {
    if (error.body && error.body.test) showResult(card, error.body.test);
    showErrors(card, error, { ...endpointFields(card), label: card.keyError });
    card.testedValid = false;
  }
}

function keyPath(card, key) {
  return `/api/provider-configs/${encodeURIComponent(card.provider.id)}/keys/${encodeURIComponent(key.id)}`;
}

async function makePrimary(card, key) {
  try {
    await api("PUT", keyPath(card, key), { primary: true });
    notice(`${card.provider.name}: ${key.label || "that key"} is used first now.`);
    await refresh();
  } catch (error) {
    showErrors(card, error, { default: card.keyError });
  }
}

async function deleteOneKey(card, key, name) {
  if (!window.confirm(`Delete ${name} of ${card.provider.name}? This cannot be undone.`)) return;
  try {
    await api("DELETE", keyPath(card, key));
    notice(`${card.provider.name}: ${name} deleted.`);
    await refresh();
  } catch (error) {
    showErrors(card, error, { default: card.keyError });
  }
}

// ---------------------------------------------------------------- start

offerDevSignIn();
if (token) signIn(token);
