/** The heat view: alerts per building (rows) and day (columns) over a chosen period. */
import { mountChart } from './echarts.ts';

export interface HeatHandle {
  update(rows: string[], days: string[], cells: [number, number, number][]): void;
  dispose(): void;
}

export function heatChart(el: HTMLElement): HeatHandle {
  const { chart, dispose } = mountChart(el);
  return {
    update(rows, days, cells) {
      const max = Math.max(1, ...cells.map((c) => c[2]));
      chart.setOption(
        {
          animation: false,
          tooltip: { position: 'top' },
          // room below the day labels for the colour scale, whose dragged values show above its handles
          grid: { left: 110, right: 16, top: 8, bottom: 88 },
          textStyle: { color: '#94a3b8' },
          xAxis: { type: 'category', data: days.map((d) => d.slice(5)), splitArea: { show: true } },
          yAxis: { type: 'category', data: rows, splitArea: { show: true } },
          visualMap: {
            min: 0,
            max,
            calculable: true,
            orient: 'horizontal',
            left: 'center',
            bottom: 4,
            itemHeight: 120,
            textStyle: { color: '#94a3b8' },
            inRange: { color: ['#13233f', '#ca8a04', '#ea580c', '#dc2626'] },
          },
          series: [
            {
              type: 'heatmap',
              data: cells,
              // Empty cells stay blank, so the eye goes to where alerts were.
              label: {
                show: true,
                color: '#e5e7eb',
                formatter: (p: { data: [number, number, number] }) => (p.data[2] ? String(p.data[2]) : ''),
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
