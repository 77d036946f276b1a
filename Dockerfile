# keyway container image (docs/kubernetes.md). Two stages: the builder installs every dependency
# and compiles TypeScript (src/ and the generated proto/gen/) to dist/src and dist/proto/gen; the
# runtime stage gets only what `keyway serve` needs and runs as an unprivileged numeric user
# (numeric, so Kubernetes can verify runAsNonRoot).
#   docker build -t keyway:0.1.0 .

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so source edits reuse the installed layer. --ignore-scripts: the build needs
# no install script (and `prepare` would compile before the sources are copied).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto/gen ./proto/gen
COPY bin ./bin
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the user that runs keyway.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
USER 10001:10001
# 8080: REST API and probes (/healthz, /readyz). 18000: xDS (ADS over gRPC).
# Outside Kubernetes the REST API listens on the container's 127.0.0.1 (docs/security.md "The admin
# API"): publish it with `docker run -e KEYWAY_ADMIN_HOST=0.0.0.0 -p 8080:8080 ...`.
EXPOSE 8080 18000
ENTRYPOINT ["node", "/app/bin/keyway.js"]
CMD ["serve", "--config", "/etc/keyway/topology.yaml"]
