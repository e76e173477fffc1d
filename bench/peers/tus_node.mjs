// @tus/server 2.x with @tus/file-store as a peer for bench/peers.py: the stock
// standalone server of its README, plus GET /healthz. Runs from bench/.peers-node
// (setup.sh):   node bench/peers/tus_node.mjs PORT DIR
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", ".peers-node", "package.json"));
const { Server } = await import(require.resolve("@tus/server"));
const { FileStore } = await import(require.resolve("@tus/file-store"));

const [port, directory] = process.argv.slice(2);
const tus = new Server({ path: "/files", datastore: new FileStore({ directory }) });
http
  .createServer((req, res) => {
    if (req.url === "/healthz") {
      res.end("ok");
      return;
    }
    tus.handle(req, res);
  })
  .listen(Number(port), "127.0.0.1");
