# GridHub hub image: the compiled hub (plain JavaScript, no TypeScript loader) and the built dashboards, on Node 24.
#   docker build -t gridhub .          (docker compose builds it for you)

FROM node:24-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary matches the platform.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# Install scripts run only for the two packages that need them (the native SQLite binding, esbuild for the build).
RUN npm ci --no-audit --no-fund --ignore-scripts \
  && npm rebuild better-sqlite3 esbuild
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY dashboards/web ./dashboards/web
# `npm run build`: tsc into dist/, the rule pack beside it, the dashboards into dashboards/web/dist.
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production \
    GRIDHUB_HOST=0.0.0.0 \
    GRIDHUB_DATA_DIR=/data \
    GRIDHUB_HTTP_PORT=8080 \
    GRIDHUB_MQTT_PORT=1883 \
    NODE_COMPILE_CACHE=/tmp/gridhub-compile-cache
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/dashboards/web/dist ./dashboards/web/dist
# /keys: the server key shared by instances on one database (docker-compose.yml, profile ha)
RUN mkdir -p /data /keys && chown node:node /data /keys && chmod 0700 /keys
USER node
VOLUME ["/data"]
# 8080: API, dashboards and MQTT over WebSocket (/mqtt); 1883: MQTT; 8883: MQTT over TLS when a cert is set.
EXPOSE 8080 1883 8883
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
