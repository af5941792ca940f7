// Only the parts of ECharts the map uses; everything is drawn locally, with no map tiles from outside.
import { CustomChart, HeatmapChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';

echarts.use([CustomChart, HeatmapChart, GridComponent, TooltipComponent, VisualMapComponent, SVGRenderer]);

export { echarts };

export const SEVERITY_COLOURS = { critical: '#dc2626', major: '#ea580c', minor: '#ca8a04' } as const;
export const QUIET_COLOUR = '#1e3a5f';

/** An ECharts instance on `el` that follows the element's size; `dispose` undoes both. */
export function mountChart(el: HTMLElement) {
  const chart = echarts.init(el, undefined, { renderer: 'svg' });
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(el);
  return {
    chart,
    dispose() {
      observer.disconnect();
      chart.dispose();
    },
  };
}
