import { z } from 'zod';
import { MESSAGES } from './realtime.messages';

const CHANNEL = 'feed';

/**
 * The AsyncAPI 3 document of `/api/v1/ws` (served at GET /docs/asyncapi.json), from the point of
 * view of the server: it receives `subscribe` and `whoami`, and sends the rest. Each message's
 * payload is the JSON Schema of the zod schema the gateway parses with (realtime.messages.ts).
 */
export function createAsyncApiDocument(): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  for (const action of ['receive', 'send'] as const) {
    for (const [name, schema] of Object.entries(MESSAGES[action])) {
      const meta = (z.globalRegistry.get(schema) ?? {}) as {
        title?: string;
        description?: string;
        examples?: unknown[];
      };
      const payload = z.toJSONSchema(schema, {
        target: 'draft-07',
        io: action === 'receive' ? 'input' : 'output',
      }) as Record<string, unknown>;
      delete payload.$schema;
      delete payload.examples;
      messages[name] = {
        name,
        title: meta.title ?? name,
        summary: meta.description,
        contentType: 'application/json',
        payload,
        examples: (meta.examples ?? []).map((example) => ({ payload: example })),
      };
      operations[`${action}${name[0].toUpperCase()}${name.slice(1)}`] = {
        action,
        channel: { $ref: `#/channels/${CHANNEL}` },
        summary: meta.description,
        messages: [{ $ref: `#/channels/${CHANNEL}/messages/${name}` }],
      };
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Tessera live feed',
      version: '1',
      description:
        'The WebSocket of a tenant’s events. Every message is `{"type": <kind>, "data": {…}}` ' +
        '(clients may still name the kind in `event`, deprecated). `hello` is always the first ' +
        'frame; then events in seq order; `subscribe` (types, `since_seq` replay) and `whoami` ' +
        'are answered. Close codes: 1009 a frame over 64 KiB, 1013 too slow a reader, 4401 the ' +
        'credential ended, 1001 server shutdown. See docs/events.md.',
    },
    defaultContentType: 'application/json',
    servers: {
      api: {
        host: 'localhost:3000',
        protocol: 'ws',
        description: 'The API itself (wss behind TLS)',
        security: [
          { $ref: '#/components/securitySchemes/apiKey' },
          { $ref: '#/components/securitySchemes/bearer' },
          { $ref: '#/components/securitySchemes/subprotocol' },
        ],
      },
    },
    channels: {
      [CHANNEL]: {
        address: '/api/v1/ws',
        title: 'The tenant feed',
        description:
          'Credentials at the upgrade, refused with the HTTP status (401/403, 403 a foreign Origin, 429 past the connection caps)',
        messages: Object.fromEntries(
          Object.keys(messages).map((name) => [name, { $ref: `#/components/messages/${name}` }]),
        ),
        bindings: {
          ws: {
            method: 'GET',
            headers: {
              type: 'object',
              properties: {
                'X-API-Key': { type: 'string', description: 'A tenant API key' },
                Authorization: { type: 'string', description: '`Bearer <access token>`' },
                'X-Tenant-ID': {
                  type: 'string',
                  description: 'The tenant, for a session with several memberships',
                },
                'Sec-WebSocket-Protocol': {
                  type: 'string',
                  description:
                    'Browsers: `tessera.v1, key.<api key>` or `tessera.v1, bearer.<token>` (answered `tessera.v1`)',
                },
              },
            },
            query: {
              type: 'object',
              properties: {
                tenant_id: { type: 'string', description: 'As X-Tenant-ID' },
                api_key: {
                  type: 'string',
                  description: 'Only with EVENTS_WS_QUERY_API_KEY on (refused with 400 otherwise)',
                },
              },
            },
            bindingVersion: '0.1.0',
          },
        },
      },
    },
    operations,
    components: {
      messages,
      securitySchemes: {
        apiKey: { type: 'httpApiKey', name: 'X-API-Key', in: 'header' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        subprotocol: {
          type: 'httpApiKey',
          name: 'Sec-WebSocket-Protocol',
          in: 'header',
          description: '`tessera.v1` plus `key.<api key>` or `bearer.<access token>`',
        },
      },
    },
  };
}
