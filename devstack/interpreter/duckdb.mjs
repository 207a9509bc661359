// Runs SQL with DuckDB over a local copy of the dataset, for the tests and
// make run. Reads a JSON job on stdin:
//
//   {"activities": "/dir/activities",     // the folder of dt=YYYY-MM-DD/ partitions
//    "statements": ["SELECT …", …]}       // run in order; each answers one result
//
// and prints {"results": [[{col: value, …}, …], …]} on stdout (values as
// JSON: timestamps as ISO text, big integers as strings). The view
// `activities` reads every Parquet file below the folder with Hive
// partitioning, as the Glue table reads the S3 prefix; macros supply the
// few Trino functions DuckDB lacks, so Athena's SQL runs as it is but for
// the one rewrite the Go side applies (element_at on a map).
import { DuckDBInstance } from '@duckdb/node-api';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const quote = (s) => "'" + String(s).replaceAll("'", "''") + "'";
await con.run("SET TimeZone = 'UTC'");
await con.run(`CREATE VIEW activities AS SELECT * FROM read_parquet(${quote(job.activities + '/**/*.parquet')}, hive_partitioning = true, hive_types = {'dt': VARCHAR})`);
await con.run('CREATE MACRO array_join(l, sep) AS array_to_string(l, sep)');
const results = [];
for (const sql of job.statements) {
  try {
    const r = await con.runAndReadAll(sql);
    results.push(r.getRowObjectsJson());
  } catch (e) {
    process.stderr.write(`duckdb: ${e.message}\nin: ${sql}\n`);
    process.exit(2);
  }
}
process.stdout.write(JSON.stringify({ results }));
