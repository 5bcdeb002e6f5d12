# One image for the three programs: `podid webhook`, `podid reconciler`, `podid nmi`.
# Build: docker build -t podid:dev .   (not buildable on the development machines: no Docker engine)

# --- build: compile TypeScript with the full toolchain ---
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# dist/ holds the three programs and the doctor, not the playground (tsconfig.build.json); the
# production tree has no Azurite nor storage SDK (devDependencies). Type declarations and source
# maps are not read at run time: about half of the production tree (docs/image.md).
RUN npm run build && npm prune --omit=dev --no-audit --no-fund \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

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
