# syntax=docker/dockerfile:1
# One container runs the whole app. Build: docker build -t tessera .

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The npm workspace (the typed client, which the dashboard bundles from its sources).
COPY packages/client/package.json ./packages/client/
# npm install, not npm ci: the lock file holds only linux-x64 optional binaries (see scripts/ensure-deps.sh).
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY migrations ./migrations
COPY scripts ./scripts
COPY web ./web
COPY packages/client/src ./packages/client/src
RUN npx nest build && node scripts/build-dashboard.mjs && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
# V8's heap sized for a ~300 MB process (docs/operations.md, "Memory"): semi-spaces of 16 MB
# instead of up to 64 MB (about 80 MB less RSS idle), and an old generation grown towards 256 MB
# at most (under load V8 otherwise commits 300-450 MB for a live set near 100 MB). Override
# NODE_OPTIONS to give a larger container more.
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=16 --max-old-space-size=256" \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM reaches node directly (exec form): readiness 503, drain, exit 0.
# Tracing: set OTEL_EXPORTER_OTLP_ENDPOINT (docs/observability.md); main.js loads the
# OpenTelemetry SDK before anything it instruments, so no --require/--import flag is needed.
CMD ["node", "dist/src/main.js"]
