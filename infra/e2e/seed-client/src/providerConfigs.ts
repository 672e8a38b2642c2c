// The original app's client of the provider-config API (DESIGN.md, "The original
// app's client"): four calls, each a `fetch` of a path relative to the app's own
// origin with JSON, throwing unless `response.ok`. Kept as the app has it: the checks
// give it nothing but a `fetch` that knows the base URL and the bearer token.

export interface ProviderConfig {
  id: string;
  provider: string;
  isActive: boolean;
  settings?: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface ApiKeyTestResult {
  valid: boolean;
  message: string;
}

export async function testApiKey(provider: string, apiKey: string): Promise<ApiKeyTestResult> {
  const response = await fetch('/api/test-api-key', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ provider, apiKey }),
  });
  if (!response.ok) {
    throw new Error(`Failed to test API key: ${response.status}`);
  }
  return response.json();
}

export async function saveProviderConfig(config: {
  provider: string;
  apiKey: string;
  settings?: Record<string, unknown>;
}): Promise<ProviderConfig> {
  const response = await fetch('/api/provider-configs', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(config),
  });
  if (!response.ok) {
    throw new Error(`Failed to save provider config: ${response.status}`);
  }
  const data = await response.json();
  return data.config;
}

export async function getProviderConfigs(): Promise<ProviderConfig[]> {
  const response = await fetch('/api/provider-configs');
  if (!response.ok) {
    throw new Error(`Failed to fetch provider configs: ${response.status}`);
  }
  const data = await response.json();
  return data.configs;
}

export async function updateProviderSettings(
  provider: string,
  settings: Record<string, unknown>,
): Promise<ProviderConfig> {
  const response = await fetch('/api/provider-configs', {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ provider, settings }),
  });
  if (!response.ok) {
    throw new Error(`Failed to update provider settings: ${response.status}`);
  }
  const data = await response.json();
  return data.config;
}
