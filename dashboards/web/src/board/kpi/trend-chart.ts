/** The KPI page's trend: 办结率 per grid and day, with the alerts raised as bars behind. */
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import type { KpiReport } from '../../common/types.ts';

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, SVGRenderer]);

export function trendChart(el: HTMLElement) {
  const chart = echarts.init(el, undefined, { renderer: 'svg' });
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(el);
  return {
    update(report: KpiReport, labels: { raised: string; closureRate: string }) {
      const days = report.trend.overall.map((p) => p.date);
      const gridName = (id: string) => report.grids.find((g) => g.gridId === id)?.gridName ?? id;
      chart.setOption(
        {
          animation: false,
          textStyle: { color: '#94a3b8' },
          legend: { top: 0, textStyle: { color: '#cbd5e1' } },
          tooltip: { trigger: 'axis' },
          grid: { left: 44, right: 44, top: 32, bottom: 28 },
          xAxis: { type: 'category', data: days.map((d) => d.slice(5)) },
          yAxis: [
            {
              type: 'value',
              name: labels.raised,
              minInterval: 1,
              splitLine: { lineStyle: { color: '#24324f' } },
            },
            {
              type: 'value',
              name: labels.closureRate,
              min: 0,
              max: 100,
              axisLabel: { formatter: '{value}%' },
              splitLine: { show: false },
            },
          ],
          series: [
            {
              type: 'bar',
              name: labels.raised,
              data: report.trend.overall.map((p) => p.total),
              itemStyle: { color: '#1e3a5f' },
            },
            ...Object.entries(report.trend.grids).map(([id, points]) => ({
              type: 'line',
              name: `${gridName(id)} ${labels.closureRate}`,
              yAxisIndex: 1,
              connectNulls: true,
              data: points.map((p) =>
                p.closureRate === null ? null : Math.round(p.closureRate * 1000) / 10,
              ),
            })),
          ],
        },
        { notMerge: true },
      );
    },
    dispose() {
      observer.disconnect();
      chart.dispose();
    },
  };
}
