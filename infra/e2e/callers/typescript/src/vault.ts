// How a chat backend written in TypeScript takes a user's key from the vault: the
// use-key function, through the Lambda Invoke API, with the AWS SDK v3. This file is
// what README.md shows; the test beside it runs it against the local stack.
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { LookupAddress, LookupOptions } from "node:dns";

export type UseKeyAnswer =
  | {
      found: true;
      source: "user";
      apiKey: string;
      keyId: string;
      /** Pass back with a report about this key: a report about a key replaced or
       * tested since is stale and marks nothing. */
      lease: string;
      keyHint: string | null;
      provider: string;
      settings: Record<string, unknown>;
      endpoint?: Record<string, unknown>;
      /** The addresses the stored endpoint leads to, checked at this use. */
      endpointAddresses?: string[];
    }
  | {
      /** The deployment's own key (only where the stack has them and the user has no
       * usable key): report each call with `usage`, which counts against the user's
       * monthly allowance. */
      found: true;
      source: "deployment";
      apiKey: string;
      keyId: "deployment";
      provider: string;
      settings: Record<string, unknown>;
      allowanceTokensLeft: number;
      /** Why none of the user's own keys was usable. */
      userKeys: "none" | "inactive" | "expired" | "all_unavailable";
      lease?: undefined;
      keyHint?: undefined;
      /** Never set: the deployment's key is for the provider's own API. */
      endpoint?: Record<string, unknown>;
      endpointAddresses?: string[];
    }
  | {
      found: false;
      reason: "none" | "inactive" | "expired" | "all_unavailable" | "endpoint_refused";
      unavailable?: string;
      availableAt?: string | null;
      /** The user's keys refused, and this month's allowance on the deployment's key spent. */
      deploymentAllowance?: "exhausted";
    };

export type Outcome = "rate_limited" | "invalid" | "quota_exceeded" | "ok";

export class Vault {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  private async invoke<T>(payload: Record<string, unknown>): Promise<T> {
    const out = await this.lambda.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
    if (out.FunctionError) {
      throw new Error(`use-key failed: ${out.FunctionError}`);
    }
    const answer = JSON.parse(new TextDecoder().decode(out.Payload));
    if (answer.error) {
      // Never carries key material: a field and a message (and "status": 403 when the
      // user's token is missing or does not pass), or a request id.
      throw new Error(`use-key refused the call: ${JSON.stringify(answer)}`);
    }
    return answer as T;
  }

  /** The user's key for a provider (its use is recorded), or why there is none.
   * `userToken` is the user's own JWT as the app received it from its client: with it
   * the vault releases the key of that token's user only (a deployment with
   * UseKeyRequireUserToken=true releases none without it). A string is a `keyId`. */
  getUserApiKey(
    userId: string,
    provider: string,
    options: string | { keyId?: string; userToken?: string } = {},
  ): Promise<UseKeyAnswer> {
    const { keyId, userToken } = typeof options === "string" ? { keyId: options, userToken: undefined } : options;
    return this.invoke({
      userId,
      provider,
      ...(keyId ? { keyId } : {}),
      ...(userToken ? { userToken } : {}),
    });
  }

  /** Tells the vault what the provider answered, so the next call can fall back.
   * `lease` is the one the key came with (without it, the report applies to the key
   * as it is now: the form of callers before leases). */
  async reportOutcome(
    userId: string,
    provider: string,
    keyId: string,
    outcome: Outcome,
    retryAfterSeconds?: number,
    lease?: string,
    userToken?: string,
  ): Promise<boolean> {
    const answer = await this.invoke<{ recorded: boolean }>({
      userId,
      provider,
      keyId,
      outcome,
      ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
      ...(lease ? { lease } : {}),
      ...(userToken ? { userToken } : {}),
    });
    return answer.recorded;
  }

  /** Counts a call made with the deployment's own key (`source: "deployment"`)
   * against the user's monthly allowance: the tokens the provider's usage fields
   * named. Every such call must be reported; nothing else counts it. */
  async reportDeploymentUsage(
    userId: string,
    provider: string,
    outcome: Outcome,
    usage: { inputTokens: number; outputTokens: number },
    userToken?: string,
  ): Promise<boolean> {
    const answer = await this.invoke<{ recorded: boolean }>({
      userId,
      provider,
      keyId: "deployment",
      outcome,
      usage,
      ...(userToken ? { userToken } : {}),
    });
    return answer.recorded;
  }
}

/** The host of a key's own endpoint (`baseUrl` of an OpenAI-compatible server, the
 * Azure OpenAI resource's `endpoint`), or null for a provider's own API. */
export function endpointHost(endpoint: Record<string, unknown> | undefined): string | null {
  const url = endpoint?.baseUrl ?? endpoint?.endpoint;
  return typeof url === "string" ? new URL(url).hostname : null;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `lookup` for `http.Agent` / `https.Agent` (or undici's `connect.lookup`) that
 * answers the key's endpoint host with the addresses use-key checked at this use
 * (`endpointAddresses`) and nothing else: no second DNS answer can lead the call
 * somewhere the vault did not check (DNS rebinding). Other hosts fail. `null` when the
 * key has no endpoint of its own. */
export function pinnedLookup(answer: UseKeyAnswer) {
  if (!answer.found || !answer.endpointAddresses) return null;
  const host = endpointHost(answer.endpoint);
  const addresses: LookupAddress[] = answer.endpointAddresses
    .map((address) => ({ address, family: address.includes(":") ? 6 : 4 }))
    .sort((a, b) => a.family - b.family);
  return (hostname: string, options: LookupOptions | number | LookupCallback, callback?: LookupCallback) => {
    const done = (typeof options === "function" ? options : callback) as LookupCallback;
    const all = typeof options === "object" && options.all === true;
    if (hostname !== host || addresses.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`${hostname} is not the key's checked endpoint`);
      err.code = "ENOTFOUND";
      done(err, all ? [] : "", 0);
      return;
    }
    if (all) done(null, addresses);
    else done(null, addresses[0].address, addresses[0].family);
  };
}
