// A newc ("070701") cpio writer: a staging directory → an initramfs archive.
// Written here rather than shelling out so archives are byte-for-byte
// reproducible (owner root, mtime 0, sorted) and need no host tool.
import { open, readdir, readlink, lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface Entry {
  name: string;
  mode: number;
  data: Buffer;
}

function header(e: Entry, ino: number): Buffer {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const nameSize = Buffer.byteLength(e.name) + 1;
  const fields = [
    '070701',
    hex(ino),
    hex(e.mode),
    hex(0), // uid
    hex(0), // gid
    hex(1), // nlink
    hex(0), // mtime
    hex(e.data.length),
    hex(0), hex(0), hex(0), hex(0), // dev/rdev major/minor
    hex(nameSize),
    hex(0), // check
  ].join('');
  return Buffer.concat([Buffer.from(fields + e.name + '\0'), pad(110 + nameSize)]);
}

function pad(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

async function* walk(root: string, rel = ''): AsyncGenerator<Entry> {
  const names = (await readdir(join(root, rel))).sort();
  for (const n of names) {
    const r = rel ? `${rel}/${n}` : n;
    const p = join(root, r);
    const st = await lstat(p);
    if (st.isSymbolicLink()) yield { name: r, mode: 0o120777, data: Buffer.from(await readlink(p)) };
    else if (st.isDirectory()) {
      yield { name: r, mode: 0o040000 | (st.mode & 0o7777), data: Buffer.alloc(0) };
      yield* walk(root, r);
    } else if (st.isFile()) yield { name: r, mode: 0o100000 | (st.mode & 0o7777), data: await readFile(p) };
  }
}

/** Archive everything under dir into out (uncompressed: TCG unpacks it faster than it inflates gzip). */
export async function writeCpio(dir: string, out: string): Promise<void> {
  const fh = await open(out, 'w');
  try {
    let ino = 1;
    for await (const e of walk(dir)) {
      await fh.write(header(e, ino++));
      if (e.data.length) {
        await fh.write(e.data);
        await fh.write(pad(e.data.length));
      }
    }
    await fh.write(header({ name: 'TRAILER!!!', mode: 0, data: Buffer.alloc(0) }, 0));
  } finally {
    await fh.close();
  }
}
