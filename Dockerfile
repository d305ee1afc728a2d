FROM node:20-slim
WORKDIR /app
COPY package*.json ./
# tsx is a runtime dependency: bin/hitl.js runs the TypeScript sources directly.
RUN npm ci --omit=dev
COPY . .
ENTRYPOINT ["node", "bin/hitl.js"]
