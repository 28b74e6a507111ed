// Builds of one kernel tree share a worktree and an O= directory, and this
// machine can afford only one kernel build at a time, so callers serialise on
// a lock rather than trusting luck. The lock itself lives in host/.
export { withLock } from '../host/lock.ts';
