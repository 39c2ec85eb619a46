/**
 * A code shown in operators' words (server/domain/vocabulary.ts), the code itself in the tooltip
 * and in data-code (the API and webhooks keep using codes).
 */
export function Term({ code, words, className }: { code: string; words: string; className?: string }) {
  return (
    <span title={code} data-code={code} className={className}>
      {words}
    </span>
  );
}
