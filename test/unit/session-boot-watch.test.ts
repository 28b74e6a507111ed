// startSession's boot watch: how far a boot got, read off the console as
// QEMU writes it (the phase a SessionError names), and the kernel's init time.
import t from 'tap';
import { ConsoleStream } from '../../harness/src/vm/console.ts';
import { watchBoot } from '../../harness/src/workflows/session.ts';

t.test('phases only move forward; init time and progress come from the lines', async (t) => {
  const stream = new ConsoleStream();
  const said: string[] = [];
  const boot = watchBoot(stream, (m) => said.push(m));
  t.equal(boot.phase, 'qemu');
  stream.write('[    0.000000] Linux version 6.12.0 (gcc)\n');
  t.equal(boot.phase, 'kernel');
  stream.write('[    4.095472] Run /init as init process\n');
  t.equal(boot.phase, 'init');
  t.equal(boot.kernelInitMs, 4095);
  boot.reach('ssh');
  stream.write('daxh: init started\n');
  t.equal(boot.phase, 'ssh', 'a late console line does not move the phase back');
  t.same(said, ['kernel started', 'kernel reached init at 4.09 s of guest time']);
  boot.off();
  stream.write('[    9.000000] Run /sbin/init as init process\n');
  t.equal(boot.kernelInitMs, 4095, 'off() stops reading');
});
