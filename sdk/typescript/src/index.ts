// keygate's TypeScript client: an API key in, fresh access tokens out.
//
//   const client = new KeygateClient({ baseUrl: "https://api.example.com/v1", apiKey: process.env.KEYGATE_API_KEY! });
//   const customers = await client.request("GET", "/customers");
//   const resp = await client.fetch("/customers");          // a drop-in fetch
//
// The axios interceptor is "@keygate/client/axios"; webhook verification "@keygate/client/webhooks".

export { KeygateClient, type KeygateClientOptions } from "./client.js";
export { CODES, type ErrorCode } from "./codes.js";
export { systemClock, type Clock, type Logger, type RetryPolicy } from "./core.js";
export {
  APIError,
  AuthenticationError,
  ConflictError,
  InvalidGrantError,
  InvalidRequestError,
  KeygateError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ServiceUnavailableError,
  checkResponse,
} from "./errors.js";
export {
  Keys,
  Secret,
  type CreatedKey,
  type EventPage,
  type Key,
  type KeyEvent,
  type KeyPage,
  type KeySpec,
  type KeyUpdate,
  type KeyUsage,
  type PageOptions,
  type UsageDay,
  type UsagePlan,
  type Validation,
} from "./admin.js";
