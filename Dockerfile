# One image for the three programs: `podid webhook`, `podid reconciler`, `podid nmi`.
# Build: docker build -t podid:dev .   (not buildable on the development machines: no Docker engine)

# --- build: compile TypeScript with the full toolchain ---
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Skip the `node` devDependency's download-free binary shim: the base image is Node 24 already.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- runtime: the NMI needs iptables for its redirect chain; nothing else is installed ---
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
# Non-root by default (uid 1000 is the image's `node` user). The NMI DaemonSet overrides this
# in its securityContext: managing iptables needs root with NET_ADMIN.
USER 1000:1000
ENTRYPOINT ["node", "/app/bin/podid.js"]
CMD ["--help"]
