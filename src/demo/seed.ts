import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { Department, PersonRole, ResidentInput } from '../domain/records.ts';
import type { DemoCredentials } from '../domain/wire.ts';
import type { Registry } from '../registry/registry.ts';
import { newSecret } from '../registry/secrets.ts';

const ESTATE_NAMES = ['阳光花园', '翠湖小区', '金桂苑', '银杏里', '和美家园', '望江府', '春晖苑', '紫荆园'];
const DEPARTMENT_NAMES: Record<Department, string> = {
  fire: '消防救援站',
  police: '社区民警',
  sanitation: '环卫所',
  civil_affairs: '民政办',
  medical: '社区卫生服务中心',
  elevator: '电梯维保',
};
const DAY = { start: 8 * 60, end: 20 * 60 };
const NIGHT = { start: 20 * 60, end: 32 * 60 };
const ALL_WEEK = [0, 1, 2, 3, 4, 5, 6];

/** The demo community's shape: small enough to read, big enough to show routing, grouping and storms. */
export interface DemoPlan {
  communities: number;
  gridsPerCommunity: number;
  estatesPerGrid: number;
  buildingsPerEstate: number;
  unitsPerBuilding: number;
  floors: number;
}

export const DEFAULT_DEMO_PLAN: DemoPlan = {
  communities: 2,
  gridsPerCommunity: 2,
  estatesPerGrid: 2,
  buildingsPerEstate: 3,
  unitsPerBuilding: 2,
  floors: 18,
};

/**
 * Seed one street with its communities, grids, estates, buildings and units; ~200 devices of every type;
 * grid teams, duty staff and departments with shifts; and the demo users. Every credential is written to
 * `<dataDir>/demo-credentials.json` (readable only by its owner).
 */
export async function seedDemo(
  registry: Registry,
  options: { dataDir: string; now: number; mqttUrl: string; httpUrl: string; plan?: DemoPlan },
): Promise<{ file: string; credentials: DemoCredentials }> {
  const plan = options.plan ?? DEFAULT_DEMO_PLAN;
  const { places, people, devices, users } = registry;
  const now = options.now;
  const creds: DemoCredentials = {
    generatedAt: new Date(now).toISOString(),
    mqttUrl: options.mqttUrl,
    httpUrl: options.httpUrl,
    devices: [],
    users: [],
    workers: [],
  };
  const pending: Promise<void>[] = [];
  const counters = new Map<DeviceTypeId, number>();
  const prefix: Record<DeviceTypeId, string> = {
    smoke: 'smoke',
    throw_camera: 'throw',
    ebike_elevator: 'ebike',
    bin: 'bin',
    call_button: 'call',
  };
  const addDevice = (type: DeviceTypeId, placeId: string, floor: number | null) => {
    const n = (counters.get(type) ?? 0) + 1;
    counters.set(type, n);
    const id = `${prefix[type]}-${String(n).padStart(3, '0')}`;
    const secret = newSecret();
    creds.devices.push({ id, type, placeId, placeName: places.names(placeId).join(' › '), floor, secret });
    pending.push(devices.provision({ id, type, placeId, floor, secret }, now).then(() => undefined));
  };
  const person = async (
    id: string,
    name: string,
    role: PersonRole,
    placeIds: string[],
    shifts: { start: number; end: number },
    extra: { department?: Department; deputyId?: string } = {},
  ) => {
    await people.create({
      id,
      name,
      role,
      placeIds,
      phone: `138${String(Math.abs(hash(id)) % 1e8).padStart(8, '0')}`,
      contacts: [{ channel: 'mqtt', target: id }],
      ...extra,
    });
    await people.setShifts(
      id,
      ALL_WEEK.map((weekday) => ({ weekday, startMinute: shifts.start, endMinute: shifts.end })),
    );
  };

  await places.create({ id: 'S1', level: 'street', name: '青龙街道', parentId: null });
  await person('street-cmd', '街道指挥中心值班员', 'street_command', ['S1'], { start: 0, end: 1440 });
  for (const dept of Object.keys(DEPARTMENT_NAMES) as Department[]) {
    await person(
      `dept-${dept}`,
      DEPARTMENT_NAMES[dept],
      'department',
      ['S1'],
      { start: 0, end: 1440 },
      { department: dept },
    );
  }

  let grid = 0;
  let estate = 0;
  const communityNames = ['幸福社区', '和平社区', '光明社区', '团结社区'];
  for (let c = 1; c <= plan.communities; c++) {
    const cid = `C${c}`;
    await places.create({
      id: cid,
      level: 'community',
      name: communityNames[c - 1] ?? `社区${c}`,
      parentId: 'S1',
    });
    await person(`community-duty-${c}`, `${communityNames[c - 1] ?? cid}值班员`, 'community_duty', [cid], {
      start: 0,
      end: 1440,
    });
    await person(`property-duty-${c}`, `物业值班员${c}`, 'property_duty', [cid], { start: 0, end: 1440 });
    for (let g = 1; g <= plan.gridsPerCommunity; g++) {
      grid++;
      const gid = `G${grid}`;
      await places.create({ id: gid, level: 'grid', name: `第${grid}网格`, parentId: cid });
      const team = `g${grid}`;
      await person(`${team}-leader`, `网格长${grid}`, 'grid_leader', [gid], { start: 8 * 60, end: 22 * 60 });
      await person(`${team}-worker-b`, `网格员${grid}B`, 'grid_worker', [gid], NIGHT);
      await person(`${team}-worker-a`, `网格员${grid}A`, 'grid_worker', [gid], DAY, {
        deputyId: `${team}-worker-b`,
      });
      await person(`${team}-parttime`, `兼职网格员${grid}`, 'grid_worker_parttime', [gid], {
        start: 18 * 60,
        end: 21 * 60,
      });
      await person(`${team}-instructor`, `网格指导员${grid}`, 'grid_instructor', [gid], {
        start: 9 * 60,
        end: 17 * 60,
      });
      for (let e = 1; e <= plan.estatesPerGrid; e++) {
        estate++;
        const eid = `E${estate}`;
        await places.create({
          id: eid,
          level: 'estate',
          name: ESTATE_NAMES[estate - 1] ?? `小区${estate}`,
          parentId: gid,
        });
        addDevice('bin', eid, null);
        await person(`vol-${eid}`, `志愿者${estate}`, 'volunteer', [eid], { start: 8 * 60, end: 20 * 60 });
        for (let b = 1; b <= plan.buildingsPerEstate; b++) {
          const bid = `${eid}-B${b}`;
          await places.create({ id: bid, level: 'building', name: `${b}栋`, parentId: eid });
          // Floors for the estate map; positions are left to its automatic layout (admins may move them).
          await places.setLayout(bid, { floors: plan.floors });
          // 1+3+N: a building head per building, on call at home in the evening and at night.
          await person(`bh-${bid}`, `楼栋长${estate}-${b}`, 'building_head', [bid], {
            start: 18 * 60,
            end: 32 * 60,
          });
          addDevice('throw_camera', bid, null);
          addDevice('ebike_elevator', bid, 1);
          for (let u = 1; u <= plan.unitsPerBuilding; u++) {
            const uid = `${bid}-U${u}`;
            await places.create({ id: uid, level: 'unit', name: `${u}单元`, parentId: bid });
          }
          // Smoke sensors on adjacent floors of unit 1, so a fire can spread across them.
          for (let f = 0; f < 5; f++) addDevice('smoke', `${bid}-U${(f % plan.unitsPerBuilding) + 1}`, 3 + f);
          addDevice('call_button', `${bid}-U1`, 6);
        }
      }
    }
  }
  await Promise.all(pending);

  const addUser = async (
    username: string,
    role: 'admin' | 'manager' | 'worker' | 'department',
    scope: string[],
    personId: string | null,
    displayName: string,
  ) => {
    const password = newSecret(12);
    await users.create({ username, password, role, scope, personId, displayName }, now);
    creds.users.push({ username, password, role, personId, scope });
  };
  await Promise.all([
    addUser('admin', 'admin', [], null, '系统管理员'),
    addUser('manager', 'manager', ['C1'], 'property-duty-1', '幸福社区物业经理'),
    addUser('worker', 'worker', ['G1'], 'g1-worker-a', '网格员1A'),
    addUser('worker2', 'worker', ['G3'], 'g3-worker-a', '网格员3A'),
    addUser('fire', 'department', ['S1'], 'dept-fire', '消防救援站'),
  ]);
  // Every grid-team member can take alarms over MQTT with an API token (their phones do).
  for (let g = 1; g <= grid; g++) {
    for (const personId of [`g${g}-worker-a`, `g${g}-worker-b`, `g${g}-leader`]) {
      const username = creds.users.find((u) => u.personId === personId)?.username ?? personId;
      if (!users.get(username)) {
        // phones log in with the API token below; the account needs no password (and pays no KDF)
        await users.create(
          {
            username,
            password: null,
            role: 'worker',
            scope: [`G${g}`],
            personId,
            displayName: personId,
          },
          now,
        );
      }
      const token = await users.issueToken(username, 'api', now, undefined, 'demo MQTT alarms');
      creds.workers.push({ personId, username, token, alarmsTopic: `gh/workers/${personId}/alarms` });
    }
  }

  const file = join(options.dataDir, 'demo-credentials.json');
  writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return { file, credentials: creds };
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙'];
const GIVEN = ['秀英', '桂兰', '建国', '淑珍', '德明', '玉兰', '志强', '凤英'];
const HEALTH = ['高血压', '糖尿病，独居', '心脏病史，行动不便', '阿尔茨海默病早期', '术后康复'];

/** The elderly residents behind the demo's one-key-call buttons, with a family contact each. */
export async function seedDemoResidents(
  dispatcher: { residents: { put(r: ResidentInput): unknown } },
  buttons: readonly { id: string; placeId: string }[],
): Promise<void> {
  for (const [i, b] of buttons.entries()) {
    const surname = SURNAMES[i % SURNAMES.length] as string;
    await dispatcher.residents.put({
      id: `resident-${b.id}`,
      name: `${surname}${GIVEN[i % GIVEN.length]}`,
      phone: `139${String(Math.abs(hash(b.id)) % 1e8).padStart(8, '0')}`,
      familyName: `${surname}（子女）`,
      familyPhone: `137${String(Math.abs(hash(`${b.id}-family`)) % 1e8).padStart(8, '0')}`,
      healthNotes: HEALTH[i % HEALTH.length] as string,
      deviceId: b.id,
      placeId: b.placeId,
    });
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
}
