/** The estate's plan (需求地图): its buildings as blocks at their positions, each coloured by its worst alarm. */

import { mountChart, QUIET_COLOUR, SEVERITY_COLOURS } from './echarts.ts';
import type { BuildingSpot, Lit } from './layout.ts';

export interface PlanHandle {
  update(
    spots: BuildingSpot[],
    lit: Map<string, Lit>,
    selected: string | null,
    label: (n: number) => string,
  ): void;
  dispose(): void;
}

type Datum = [number, number, string, string, number];

export function estatePlan(el: HTMLElement, onSelect: (buildingId: string) => void): PlanHandle {
  const { chart, dispose } = mountChart(el);
  chart.on('click', (p) => {
    const d = p.data as Datum | undefined;
    if (d) onSelect(d[2]);
  });
  return {
    update(spots, lit, selected, label) {
      const data: Datum[] = spots.map((s) => [s.x, s.y, s.id, s.name, lit.get(s.id)?.alertIds.length ?? 0]);
      chart.setOption(
        {
          animation: false,
          grid: { left: 8, right: 8, top: 8, bottom: 8 },
          xAxis: { type: 'value', min: 0, max: 100, show: false },
          yAxis: { type: 'value', min: 0, max: 100, inverse: true, show: false },
          tooltip: {
            formatter: (p: { data: Datum }) => `${p.data[3]}${p.data[4] ? ` · ${label(p.data[4])}` : ''}`,
          },
          series: [
            {
              type: 'custom',
              data,
              renderItem: (
                _params: unknown,
                api: {
                  value: (i: number) => number | string;
                  coord: (v: number[]) => number[];
                  size: (v: number[]) => number[];
                },
              ) => {
                const [cx = 0, cy = 0] = api.coord([Number(api.value(0)), Number(api.value(1))]);
                const [w = 40, h = 30] = api.size([14, 16]);
                const id = String(api.value(2));
                const hit = lit.get(id);
                const fill = hit ? SEVERITY_COLOURS[hit.severity] : QUIET_COLOUR;
                return {
                  type: 'group',
                  children: [
                    {
                      type: 'rect',
                      shape: { x: cx - w / 2, y: cy - h / 2, width: w, height: h, r: 4 },
                      style: {
                        fill,
                        stroke: id === selected ? '#38bdf8' : '#24324f',
                        lineWidth: id === selected ? 3 : 1,
                      },
                    },
                    {
                      type: 'text',
                      style: {
                        x: cx,
                        y: cy,
                        text: `${String(api.value(3))}${hit ? `\n${label(hit.alertIds.length)}` : ''}`,
                        fill: '#e5e7eb',
                        align: 'center',
                        verticalAlign: 'middle',
                        lineHeight: 18,
                        font: '600 13px system-ui, "Noto Sans CJK SC", sans-serif',
                      },
                    },
                  ],
                };
              },
            },
          ],
        },
        { notMerge: true },
      );
    },
    dispose,
  };
}
