// Only the parts of ECharts the device charts use, so the bundle stays small.
import { LineChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import type { Point } from '../common/types.ts';

echarts.use([LineChart, GridComponent, TooltipComponent, DataZoomComponent, CanvasRenderer]);

export interface ChartHandle {
  /** `states` draws a boolean as a state timeline (steps between its two labelled states), not as a line. */
  update(
    points: Point[],
    unit: string | undefined,
    range: { from: number; to: number },
    states?: { no: string; yes: string },
  ): void;
  dispose(): void;
}

export function lineChart(el: HTMLElement, name: string): ChartHandle {
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  const resize = () => chart.resize();
  const observer = new ResizeObserver(resize);
  observer.observe(el);
  return {
    update(points, unit, range, states) {
      const stateOf = (v: unknown) => (Number(v) >= 0.5 ? states?.yes : states?.no) ?? String(v);
      chart.setOption({
        animation: false,
        grid: { left: 48, right: 16, top: 16, bottom: 48 },
        tooltip: {
          trigger: 'axis',
          valueFormatter: (v: unknown) => (states ? stateOf(v) : `${String(v)}${unit ? ` ${unit}` : ''}`),
        },
        textStyle: { color: '#94a3b8' },
        xAxis: { type: 'time', min: range.from, max: range.to, splitLine: { show: false } },
        yAxis: states
          ? {
              type: 'value',
              min: 0,
              max: 1,
              interval: 1,
              axisLabel: { formatter: stateOf },
              splitLine: { lineStyle: { color: '#24324f' } },
            }
          : {
              type: 'value',
              name: unit ?? '',
              scale: true,
              splitLine: { lineStyle: { color: '#24324f' } },
            },
        dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 6 }],
        series: [
          {
            name,
            type: 'line',
            step: states ? 'end' : false,
            areaStyle: states ? { opacity: 0.15 } : undefined,
            showSymbol: points.length < 60,
            connectNulls: false,
            lineStyle: { color: '#38bdf8' },
            itemStyle: { color: '#38bdf8' },
            data: points.map((p) => [p.t, p.v]),
          },
        ],
      });
    },
    dispose() {
      observer.disconnect();
      chart.dispose();
    },
  };
}
