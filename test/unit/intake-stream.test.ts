// parse-log's input path: small inputs go through intake whole, large ones
// stream line by line as raw console logs.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { reportsFromStream } from '../../harness/src/workflows/repro/report.js';
import { parseLog } from '../../harness/src/oracle/index.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');
const text = readFileSync(join(corpus, 'dax-pmd-6.6-console.log'), 'utf8');
const chunks = (s: string, n: number) => Readable.from(Array.from({ length: Math.ceil(s.length / n) }, (_, i) => Buffer.from(s.slice(i * n, (i + 1) * n))));

t.test('a small input is read whole and goes through intake', async (t) => {
  const mail = readFileSync(join(corpus, 'intake/mail-quoted-printable.eml'));
  const r = await reportsFromStream(Readable.from([mail.subarray(0, 500), mail.subarray(500)]));
  t.same(r.map((x) => x.title), ['kernel BUG in dax_fault_iter'], 'decoded from quoted-printable');
  t.match(r[0]!.source, { message: 0, subject: /PATCH v9/ }, 'with the message it came from');
});

t.test('a large input streams, chunk boundaries anywhere', async (t) => {
  const big = text.repeat(3);
  const r = await reportsFromStream(chunks(big, 777), 4096);
  t.same(r.map((x) => x.title), parseLog(big).map((x) => x.title));
  t.equal(r.length, 3);
  t.same(r.map((x) => x.startLine), parseLog(big).map((x) => x.startLine), 'line numbers as in the input');
});
