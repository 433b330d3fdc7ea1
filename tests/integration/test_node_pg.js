// test_node_pg.js - the independent client of test_node_pg.c: node-postgres
// (the npm package pg, 8.14 or later) connects with verify-full TLS
// (ssl { ca, servername }) and channel binding (enableChannelBinding), then
// prints, as one JSON line, the pg_stat_ssl row the server keeps for its
// session next to what the client itself knows (its socket, BackendKeyData
// pid, the SASL mechanism it used).  Exit 0 on success; on failure one JSON
// line {"error": "..."} and exit 1.
//
//   node test_node_pg.js HOST PORT USER DATABASE CA_FILE SERVERNAME
//   (password in PGPASSWORD; module directory in CZ_NODE_PG_DIR)
'use strict'

const fs = require('fs')
const path = require('path')

const dir = process.env.CZ_NODE_PG_DIR
const pgPath = path.join(dir, 'node_modules', 'pg')
const pg = require(pgPath)
const sasl = require(path.join(pgPath, 'lib', 'crypto', 'sasl'))

const [host, port, user, database, caFile, servername] = process.argv.slice(2)

// Which mechanism the client picked: the library does not keep it after the exchange.
let mechanism = null
const startSession = sasl.startSession
sasl.startSession = function (...args) {
  const session = startSession.apply(this, args)
  mechanism = session.mechanism
  return session
}

const query =
  'SELECT s.ssl, s.version, s.cipher, s.bits, a.pid, pg_catalog.host(a.client_addr) AS client_addr, ' +
  'a.client_port FROM pg_catalog.pg_stat_ssl s JOIN pg_catalog.pg_stat_activity a USING (pid) ' +
  'WHERE s.pid = pg_catalog.pg_backend_pid()'

async function main() {
  const client = new pg.Client({
    host,
    port: Number(port),
    user,
    database,
    password: process.env.PGPASSWORD,
    ssl: { ca: fs.readFileSync(caFile, 'utf8'), servername, rejectUnauthorized: true },
    enableChannelBinding: true,
    connectionTimeoutMillis: 10000,
  })
  await client.connect()
  const stream = client.connection.stream
  const res = await client.query(query)
  const row = res.rows[0]
  const out = {
    client: 'node-postgres ' + require(path.join(pgPath, 'package.json')).version,
    mechanism,
    local_address: stream.localAddress,
    local_port: stream.localPort,
    backend_key_pid: client.processID,
    tls_version: stream.getProtocol(),
    tls_cipher: stream.getCipher().standardName,
    row: {
      ssl: row.ssl,
      version: row.version,
      cipher: row.cipher,
      bits: row.bits,
      pid: row.pid,
      client_addr: row.client_addr,
      client_port: row.client_port,
    },
  }
  await client.end()
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.message ? err.message : err) }) + '\n')
  process.exit(1)
})
