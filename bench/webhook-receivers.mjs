import { createServer } from "node:http";
let count = 0;
const fast = createServer((req, res) => { req.resume(); req.on("end", () => { count++; res.writeHead(200).end(); }); });
const slow = createServer((req) => { req.resume(); });
fast.listen(0, "127.0.0.1", () => slow.listen(0, "127.0.0.1", () => process.send({ fast: fast.address().port, slow: slow.address().port })));
process.on("message", () => process.send({ count }));
