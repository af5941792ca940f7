import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

let t: TestHub;
beforeAll(async () => {
  t = await startTestHub();
});
afterAll(async () => t?.close());

interface Tree {
  id: string;
  layout?: { x: number | null; y: number | null; floors: number | null };
  children: Tree[];
}
const find = (nodes: Tree[], id: string): Tree | undefined =>
  nodes.map((n) => (n.id === id ? n : find(n.children, id))).find(Boolean);

describe('building layout for the estate map', () => {
  it('admins place a building; the tree serves it; others may not; bad values are refused', async () => {
    const admin = await t.login('admin');
    const manager = await t.login('manager');
    const put = (token: string, id: string, body: unknown) =>
      t.api(token, `/api/places/${id}/layout`, { method: 'PUT', body: JSON.stringify(body) });

    // The demo gives floors and leaves the position to the automatic layout.
    const before = (await (await t.api(admin, '/api/places')).json()) as Tree[];
    expect(find(before, 'E1-B2')?.layout).toEqual({ x: null, y: null, floors: 18 });

    const res = await put(admin, 'E1-B2', { x: 30, y: 70 });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ x: 30, y: 70, floors: 18 });
    const after = (await (await t.api(manager, '/api/places')).json()) as Tree[];
    expect(find(after, 'E1-B2')?.layout).toEqual({ x: 30, y: 70, floors: 18 });

    expect((await put(manager, 'E1-B2', { x: 1 })).status).toBe(403);
    const bad = await put(admin, 'E1-B2', { x: 130 });
    expect(bad.status).toBe(400);
    expect((await put(admin, 'E9-B9', { x: 1 })).status).toBe(404);
    // null puts the building back on the automatic layout.
    expect(await (await put(admin, 'E1-B2', { x: null, y: null })).json()).toEqual({
      x: null,
      y: null,
      floors: 18,
    });
  });
});
