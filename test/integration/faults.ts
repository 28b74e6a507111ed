// Real kernel reports on demand for the harness's own tests: our daxh_fault
// module (suites/census/daxh_fault.c), built for the kernel the guest runs,
// loaded at run time, and one action triggered through its debugfs file.
import type { Guest } from '../../harness/src/vm/guest.ts';
import type { KernelArtifact } from '../../harness/src/results/records.ts';
import { buildCensusTools } from '../../harness/src/suites/census.ts';

export async function loadFaults(guest: Guest, kernel: KernelArtifact): Promise<void> {
  const tools = await buildCensusTools(kernel);
  await guest.putFile(tools.faults, '/tmp/daxh_fault.ko');
  const r = await guest.exec(['sh', '-c', '[ -d /sys/kernel/debug/daxh_fault ] || insmod /tmp/daxh_fault.ko'], { timeoutMs: 60000 });
  if (r.exitCode !== 0) throw new Error(`insmod daxh_fault failed: ${r.stderr.trim()}`);
}

/** Run one action (warn, bug, oops, refcount, atomic-sleep, softlockup:S, irqoff:S, hang:S) in the guest's kernel. */
export function triggerFault(guest: Guest, action: string, timeoutMs = 120000, signal?: AbortSignal) {
  return guest.exec(['sh', '-c', 'echo "$1" > /sys/kernel/debug/daxh_fault/trigger', 'fault', action], { timeoutMs, signal });
}
