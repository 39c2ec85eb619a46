import Link from 'next/link';

/**
 * A node for people: its name (host name plus short engine id) linking to the Nodes page, the
 * full id in the tooltip. A node without a recorded name (no heartbeat yet) shows its id, cut.
 */
export function NodeRef({ node }: { node: { id: string; name: string | null } | null }) {
  if (!node) return <>—</>;
  return (
    <Link className="text-indigo-700 hover:underline" href="/nodes" title={node.id} data-node={node.id}>
      {node.name ?? (node.id.length > 28 ? `${node.id.slice(0, 27)}…` : node.id)}
    </Link>
  );
}
