// Only the parts of ECharts the device charts use, so the bundle stays small.
import { LineChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import type { Point } from '../common/types.ts';

echarts.use([LineChart, GridComponent, TooltipComponent, DataZoomComponent, CanvasRenderer]);

export interface ChartHandle {
  update(points: Point[], unit: string | undefined, range: { from: number; to: number }): void;
  dispose(): void;
}

export function lineChart(el: HTMLElement, name: string): ChartHandle {
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  const resize = () => chart.resize();
  const observer = new ResizeObserver(resize);
  observer.observe(el);
  return {
    update(points, unit, range) {
      chart.setOption({
        animation: false,
        grid: { left: 48, right: 16, top: 16, bottom: 48 },
        tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => `${String(v)}${unit ? ` ${unit}` : ''}` },
        textStyle: { color: '#94a3b8' },
        xAxis: { type: 'time', min: range.from, max: range.to, splitLine: { show: false } },
        yAxis: {
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
