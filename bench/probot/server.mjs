// Probot (npm `probot`, the most used GitHub App framework) as bench/ingest.py's reference:
// its own server verifies each delivery's signature and dispatches it to a no-op `push`
// handler, then answers. Run: node server.mjs PORT SECRET PATH_TO_PRIVATE_KEY
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { Probot, Server } from "probot";

const [port, secret, keyPath] = process.argv.slice(2);
const log = pino({ level: "fatal" });
const server = new Server({
  host: "127.0.0.1",
  port: Number(port),
  webhookPath: "/webhooks/github",
  log,
  Probot: Probot.defaults({
    appId: 1,
    privateKey: readFileSync(keyPath, "utf8"),
    secret,
    log,
  }),
});
await server.load((app) => {
  app.on("push", async () => {});
});
await server.start();
console.log("ready");
