# Build: compile src/ and actors/ to dist/ with the dev dependencies (TypeScript). tsc needs
# no native module, so the dev dependencies' install scripts (better-sqlite3, esbuild) are skipped.
FROM node:20-slim AS build
WORKDIR /app
COPY package*.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY actors ./actors
RUN npm run build

# Run: the compiled CLI with production dependencies only.
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package*.json ./
RUN npm ci --omit=dev
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Node runs as PID 1 (not npm), so SIGTERM reaches the worker and it drains.
ENTRYPOINT ["node", "bin/hitl.js"]
