# stormo node image: one program, every role (DESIGN: identical nodes). Node.js 24 comes from the npm
# `node` package pinned in package.json, so the base image only needs to run npm.
FROM node:24-bookworm-slim
WORKDIR /opt/stormo
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
# Mail (25, 587, 465, 143, 993, 110, 995), admin HTTP (8080), inter-node mutual TLS (7000) and join (7001).
EXPOSE 25 587 465 143 993 110 995 8080 7000 7001
ENTRYPOINT ["node_modules/.bin/node", "bin/stormo.js"]
CMD ["up", "--config", "/cluster/n1/config.json"]
