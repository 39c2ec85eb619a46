import { describe, expect, it } from 'vitest';
import { actionInWords, actorInWords, fieldsInWords, waitInWords } from '../server/domain/vocabulary';

describe('operators\' words (server/domain/vocabulary.ts)', () => {
  it.each([
    ['defaultTimeoutSeconds (500) must not exceed maxTimeoutSeconds (120)', 'Default timeout (500 s) must not exceed Maximum timeout (120 s)'],
    ['maxConcurrentJobs must be at least 0', 'Max concurrent jobs must be at least 0'],
    ['network must be "none", "warden" or the name of an existing Docker network', 'Network must be "none", "warden" or the name of an existing Docker network'],
    ['memoryMb must be at least 6', 'Memory must be at least 6'],
    ['a message without fields', 'a message without fields'],
  ])('fieldsInWords(%j)', (raw, words) => {
    expect(fieldsInWords(raw)).toBe(words);
  });

  it.each([
    ['user_limit', 'Waiting: plan limit reached'],
    ['no_capacity', 'Waiting: no node has room'],
    ['some_new_code', 'Some new code'],
  ])('waitInWords(%s)', (code, words) => expect(waitInWords(code)).toBe(words));

  it.each([
    ['container.sigterm', 'SIGTERM sent'],
    ['job.extend', 'Deadline extended'],
    ['job.brand_new', 'Job brand new'],
  ])('actionInWords(%s)', (code, words) => expect(actionInWords(code)).toBe(words));

  it.each([
    ['sweeper:orphan', 'Orphan sweeper'],
    ['sweeper:timeout', 'Timeout sweeper'],
    ['dispatcher', 'Dispatcher'],
    ['operator:ann@example.com', 'Operator ann@example.com'],
    ['api:alice', 'User alice (API)'],
  ])('actorInWords(%s)', (code, words) => expect(actorInWords(code)).toBe(words));
});
