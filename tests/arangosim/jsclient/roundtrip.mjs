// Round trip through the official ArangoDB JavaScript driver: create a
// database, a 3-shard collection and documents, read them back, query the
// count, drop the database. Configured by ARANGO_URL, ARANGO_USER,
// ARANGO_PASSWORD; exits non-zero with a message on the first mismatch.
import { Database } from "arangojs";

const url = process.env.ARANGO_URL;
if (!url) {
  console.error("set ARANGO_URL");
  process.exit(2);
}
const auth = { username: process.env.ARANGO_USER || "root", password: process.env.ARANGO_PASSWORD || "" };

function check(cond, msg) {
  if (!cond) {
    throw new Error(msg);
  }
}

const system = new Database({ url, auth });
const version = await system.version();
check(typeof version.version === "string" && version.server === "arango", `version ${JSON.stringify(version)}`);

const dbName = "jsclient_" + process.pid;
const db = await system.createDatabase(dbName);
try {
  check((await system.listDatabases()).includes(dbName), "new database not listed");
  const col = await db.createCollection("people", { numberOfShards: 3 });
  const props = await col.properties();
  check(props.numberOfShards === 3, `properties ${JSON.stringify(props)}`);

  const input = [];
  for (let i = 0; i < 25; i++) {
    input.push({ _key: "p" + i, name: "person " + i, age: i, tags: ["a", i % 2 ? "odd" : "even"] });
  }
  const saved = await col.saveAll(input);
  check(saved.length === input.length, `saveAll returned ${saved.length}`);
  for (const meta of saved) {
    check(typeof meta._rev === "string" && meta._id === "people/" + meta._key, `meta ${JSON.stringify(meta)}`);
  }
  const one = await col.save({ name: "generated key" }, { returnNew: true });
  check(one.new && one.new.name === "generated key" && one._key, `save ${JSON.stringify(one)}`);

  for (const doc of input) {
    const got = await col.document(doc._key);
    check(got.name === doc.name && got.age === doc.age && JSON.stringify(got.tags) === JSON.stringify(doc.tags),
      `document ${doc._key}: ${JSON.stringify(got)}`);
  }
  const updated = await col.update("p3", { age: 33 }, { returnNew: true });
  check(updated.new.age === 33 && updated.new.name === "person 3", `update ${JSON.stringify(updated)}`);
  await col.remove("p4");
  check(!(await col.documentExists("p4")), "removed document still exists");
  const count = await col.count();
  check(count.count === 25, `count ${count.count}`);
  console.log(JSON.stringify({ ok: true, database: dbName, documents: count.count }));
} finally {
  await system.dropDatabase(dbName);
}
