// Idle refcount by kernel and mode (spec §0): fsdax 1 before 6.15, 0 from
// 6.15 on; device-dax 1 always. The tree's own dax.h wins over the version.
import t from 'tap';
import { expectedIdle, parseRelease } from '../../harness/src/suites/census.ts';

t.test('release strings', async (t) => {
  t.same(parseRelease('6.1.0-56-amd64'), [6, 1]);
  t.same(parseRelease('6.1.192+'), [6, 1]);
  t.same(parseRelease('6.15.0-rc3+'), [6, 15]);
  t.same(parseRelease('7.1.0'), [7, 1]);
  t.equal(parseRelease('unknown'), null);
});

t.test('fsdax by version', async (t) => {
  t.same(expectedIdle('fsdax', '6.1.0-56-amd64'), { value: 1, from: 'version' });
  t.same(expectedIdle('fsdax', '6.14.11'), { value: 1, from: 'version' });
  t.same(expectedIdle('fsdax', '6.15.0-rc1'), { value: 0, from: 'version' });
  t.same(expectedIdle('fsdax', '6.18.2+'), { value: 0, from: 'version' });
  t.same(expectedIdle('fsdax', '7.0.0'), { value: 0, from: 'version' });
  t.same(expectedIdle('fsdax', 'unknown'), { value: 1, from: 'version' }, 'unknown release: the long-standing rule');
});

t.test('device-dax is 1 on every version', async (t) => {
  for (const r of ['6.1.0-56-amd64', '6.15.0', '6.18.0', '7.1.0']) t.same(expectedIdle('devdax', r), { value: 1, from: 'version' });
  t.same(expectedIdle('devdax', '6.15.0', 0), { value: 1, from: 'version' }, "dax.h's fsdax rule does not apply");
});

t.test("the tree's dax.h beats the version (the series applied on an older base)", async (t) => {
  t.same(expectedIdle('fsdax', '6.14.0', 0), { value: 0, from: 'dax.h' });
  t.same(expectedIdle('fsdax', '6.15.0', 1), { value: 1, from: 'dax.h' }, 'a series commit before the refcount flip');
  t.same(expectedIdle('fsdax', '6.15.0', null), { value: 0, from: 'version' });
});

t.test('an override beats both', async (t) => {
  t.same(expectedIdle('fsdax', '6.1.0', 1, 0), { value: 0, from: 'override' });
  t.same(expectedIdle('devdax', '6.1.0', null, 2), { value: 2, from: 'override' });
});
