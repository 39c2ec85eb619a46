import { afterAll, expect } from 'vitest';
import { repoPgOwner } from './repo-data';

// A test file must not start the repo's own embedded PostgreSQL (./.data): see repo-data.ts.
afterAll(() => {
  const owner = repoPgOwner();
  expect(owner?.pid === process.pid ? owner : null, 'this test file started an embedded PostgreSQL in the repo\'s own ./.data (WARDEN_DATA_DIR\'s default): give what it starts a data directory or DATABASE_URL of its own').toBeNull();
});
