// A bar chart of weekly totals (Chart.js, with only the parts it needs registered).

import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from "chart.js";
import { useEffect, useRef } from "preact/hooks";
import type { WeekTotals } from "./weekly";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

export type ChartMetric = "calories" | "distanceKm" | "durationMin" | "points";

export const CHART_METRICS: { value: ChartMetric; label: string; unit: string }[] = [
  { value: "calories", label: "Calories", unit: "kcal" },
  { value: "distanceKm", label: "Distance", unit: "km" },
  { value: "durationMin", label: "Time", unit: "min" },
  { value: "points", label: "Points", unit: "pts" },
];

export function WeeklyChart(props: { weeks: WeekTotals[]; metric: ChartMetric }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<"bar"> | null>(null);
  const meta = CHART_METRICS.find((m) => m.value === props.metric) ?? CHART_METRICS[0]!;
  const values = props.weeks.map((w) => Math.round(w[props.metric] * 10) / 10);
  const labels = props.weeks.map((w) => w.week.replace(/^\d{4}-/, ""));

  useEffect(() => {
    if (!canvas.current) return;
    chart.current = new Chart(canvas.current, {
      type: "bar",
      data: { labels, datasets: [{ label: meta.label, data: values, backgroundColor: "#4f46e5", borderRadius: 6 }] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: { duration: 300 },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } },
        plugins: { tooltip: { callbacks: { label: (item) => `${item.formattedValue} ${meta.unit}` } } },
      },
    });
    return () => chart.current?.destroy();
  }, []);

  useEffect(() => {
    const current = chart.current;
    if (!current) return;
    current.data.labels = labels;
    const dataset = current.data.datasets[0];
    if (dataset) {
      dataset.data = values;
      dataset.label = meta.label;
    }
    current.update();
  }, [props.weeks, props.metric]);

  const total = values.reduce((a, b) => a + b, 0);
  const summary = `${meta.label} per week over the last ${props.weeks.length} weeks: ${values
    .map((v, i) => `${labels[i]} ${v} ${meta.unit}`)
    .join(", ")}. Total ${Math.round(total)} ${meta.unit}.`;
  return (
    <div class="chart">
      <canvas ref={canvas} role="img" aria-label={summary} />
    </div>
  );
}
