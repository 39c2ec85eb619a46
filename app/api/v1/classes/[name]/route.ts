import { classToJson, deleteClass, getClass, putClass } from '@/server/domain/classes';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

export const GET = api<{ name: string }>(async ({ ctx, actor, params }) => json(classToJson(await getClass(ctx, actor, params.name))));

/** PUT — create or replace (admin); omitted optional fields are cleared. 201 when created. */
export const PUT = api<{ name: string }>(async ({ req, ctx, actor, params }) => {
  const body = await readJson(req);
  const r = await putClass(ctx, actor, params.name, body);
  return json(classToJson(r.cls), r.created ? 201 : 200);
});

/** DELETE (admin) → 200 with the deleted class. */
export const DELETE = api<{ name: string }>(async ({ ctx, actor, params }) => json(classToJson(await deleteClass(ctx, actor, params.name))));
