import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { OutboundPolicy } from '../channels/endpoints.ts';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import { DEPARTMENTS, PERSON_ROLES, type Person } from '../domain/records.ts';
import { requireRole } from '../http/context.ts';
import type { PeopleStore } from '../registry/people.ts';
import { idParams, instant, knownPlace } from './http.ts';
import type { PlaceNames } from './places.ts';

const personBody = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/)
    .min(1),
  name: z.string().min(1).max(100),
  role: z.enum(PERSON_ROLES),
  department: z.enum(DEPARTMENTS).nullable().optional(),
  phone: z.string().max(40).nullable().optional(),
  contacts: z.array(z.object({ channel: z.string().min(1), target: z.string().min(1) })).optional(),
  deputyId: z.string().nullable().optional(),
  active: z.boolean().optional(),
  placeIds: z.array(z.string().min(1)).min(1),
});

const shiftsBody = z.object({
  shifts: z
    .array(
      z
        .object({
          weekday: z.number().int().min(0).max(6),
          startMinute: z.number().int().min(0).max(1439),
          endMinute: z.number().int().min(1).max(2880),
        })
        .refine((s) => s.endMinute > s.startMinute, { message: 'endMinute must be after startMinute' }),
    )
    .max(100),
});

const overrideBody = z
  .object({
    startsAt: z.union([z.number().int(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]),
    endsAt: z.union([z.number().int(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]),
    onLeave: z.boolean().default(false),
    note: z.string().max(500).nullable().optional(),
  })
  .refine((o) => o.endsAt > o.startsAt, { message: 'endsAt must be after startsAt', path: ['endsAt'] });

/**
 * People, their rosters and who is on duty, under /api. A person is visible when one of their places is in the
 * caller's scope; managers change only people and places they can see.
 */
export function peopleRoutes(deps: {
  people: PeopleStore;
  places: PlaceNames;
  clock: Clock;
  outbound: OutboundPolicy;
}): FastifyPluginAsync {
  const { people, places, clock } = deps;

  /** Contacts name configured endpoints or give phone numbers, never URLs (src/channels/endpoints.ts). */
  function checkContacts(contacts: readonly { channel: string; target: string }[] | undefined): void {
    (contacts ?? []).forEach((c, i) => {
      const problem = deps.outbound.targetProblem(c.channel, c.target);
      if (problem) {
        throw new GridHubError('REQUEST_INVALID', `contacts[${i}].target: ${problem}`, {
          field: `contacts[${i}].target`,
        });
      }
    });
  }

  const personVisible = (request: FastifyRequest, p: Person) =>
    request.scope.all || p.placeIds.some((id) => request.scope.canSee(places.path(id)));

  function visiblePerson(request: FastifyRequest, id: string): Person {
    const p = people.get(id);
    if (!p || !personVisible(request, p)) throw new GridHubError('NOT_FOUND', `no person ${id}`);
    return p;
  }

  function checkPlaces(request: FastifyRequest, placeIds: string[]): void {
    for (const id of placeIds) {
      const path = knownPlace(places, id);
      if (!path) {
        throw new GridHubError('REQUEST_INVALID', `place ${id} does not exist`, { field: 'placeIds' });
      }
      if (!request.scope.canSee(path)) {
        throw new GridHubError('NOT_FOUND', `no place ${id}`, { field: 'placeIds' });
      }
    }
  }

  /** A deputy takes the person's alarms: a manager may name only someone inside their own scope. */
  function checkDeputy(request: FastifyRequest, deputyId: string): void {
    const deputy = people.get(deputyId);
    if (deputy && !personVisible(request, deputy)) {
      throw new GridHubError('NOT_FOUND', `no person ${deputyId}`, { field: 'deputyId' });
    }
  }

  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const peopleTags = ['people'];
    const managers = { preHandler: requireRole('admin', 'manager') };

    app.get(
      '/people',
      {
        schema: {
          tags: peopleTags,
          querystring: z.object({ place: z.string().optional(), role: z.enum(PERSON_ROLES).optional() }),
        },
      },
      async (request) => {
        const list = people
          .list({ placeId: request.query.place, role: request.query.role })
          .filter((p) => personVisible(request, p));
        return { items: list };
      },
    );

    app.get('/people/:id', { schema: { tags: peopleTags, params: idParams } }, async (request) => {
      const person = visiblePerson(request, request.params.id);
      return { person, shifts: people.shifts(person.id), overrides: people.overrides(person.id) };
    });

    app.post(
      '/people',
      { ...managers, schema: { tags: peopleTags, body: personBody } },
      async (request, reply) => {
        const body = request.body;
        checkPlaces(request, body.placeIds);
        checkContacts(body.contacts);
        if (body.deputyId) checkDeputy(request, body.deputyId);
        // The people store validates the rest (known places, department, deputy, a free id).
        return reply.code(201).send({ person: await people.create(body) });
      },
    );

    app.patch(
      '/people/:id',
      {
        ...managers,
        schema: { tags: peopleTags, params: idParams, body: personBody.omit({ id: true }).partial() },
      },
      async (request) => {
        visiblePerson(request, request.params.id);
        if (request.body.placeIds) checkPlaces(request, request.body.placeIds);
        checkContacts(request.body.contacts);
        if (request.body.deputyId) checkDeputy(request, request.body.deputyId);
        return { person: await people.update(request.params.id, request.body) };
      },
    );

    app.put(
      '/people/:id/shifts',
      {
        ...managers,
        schema: {
          tags: peopleTags,
          summary: 'Replace the weekly roster',
          params: idParams,
          body: shiftsBody,
        },
      },
      async (request) => {
        const person = visiblePerson(request, request.params.id);
        await people.setShifts(person.id, request.body.shifts);
        return { shifts: people.shifts(person.id) };
      },
    );

    app.post(
      '/people/:id/overrides',
      {
        ...managers,
        schema: {
          tags: peopleTags,
          summary: 'A dated extra shift or leave',
          params: idParams,
          body: overrideBody,
        },
      },
      async (request, reply) => {
        const person = visiblePerson(request, request.params.id);
        const o = await people.addOverride({
          personId: person.id,
          startsAt: request.body.startsAt,
          endsAt: request.body.endsAt,
          onLeave: request.body.onLeave,
          note: request.body.note ?? null,
        });
        return reply.code(201).send({ override: o });
      },
    );

    app.get(
      '/duty',
      {
        schema: {
          tags: peopleTags,
          summary: 'Who answers for each role at a place at an instant (default now), with fall-backs',
          querystring: z.object({ place: z.string().min(1), at: instant }),
        },
      },
      async (request) => {
        const path = knownPlace(places, request.query.place);
        if (!path || !request.scope.canSee(path)) {
          throw new GridHubError('NOT_FOUND', `no place ${request.query.place}`);
        }
        const at = request.query.at ?? clock.now();
        // Roles staffed at this place or above; each with who answers now (on duty, deputy or fall-back duty).
        const roles = PERSON_ROLES.flatMap((role) => {
          if (!people.peopleAt(path, role).length) return [];
          const picks = people.resolve(path, role, at);
          return [
            {
              role,
              people: picks.map((p) => ({
                id: p.person.id,
                name: p.person.name,
                role: p.person.role,
                via: p.via,
              })),
            },
          ];
        });
        return { place: request.query.place, at, roles };
      },
    );
  };
}
