// Long proof: every stressor across its whole manifest matrix (ext4, xfs,
// xfs reflink=1, device-dax 4K/2M/1G) on the stock kernel, each landing as the
// manifest expects (about 12 minutes under TCG on 2 cores).
import t from 'tap';
import { checkMatrix } from '../test/stressor-matrix.ts';

t.test('every stressor across its matrix on the stock kernel lands as the manifest expects', async (t) => {
  await checkMatrix(t);
});
