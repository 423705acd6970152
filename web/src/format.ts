// How numbers of the API are shown to a person.

export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m > 0) return `${m} min`;
  return `${seconds} s`;
}

export function formatDistance(metres: number): string {
  return metres >= 1000 ? `${(metres / 1000).toFixed(metres >= 100_000 ? 0 : 2)} km` : `${Math.round(metres)} m`;
}

const integer = new Intl.NumberFormat("en");

/** A board's score in its metric's unit (scores are integers: kcal, metres, seconds, counts). */
export function formatScore(metric: string, score: number): string {
  switch (metric) {
    case "calories":
      return `${integer.format(score)} kcal`;
    case "distance":
      return formatDistance(score);
    case "duration":
      return formatDuration(score);
    case "workouts":
      return `${integer.format(score)} ${score === 1 ? "workout" : "workouts"}`;
    case "active_days":
      return `${integer.format(score)} ${score === 1 ? "day" : "days"}`;
    default:
      return `${integer.format(score)} pts`;
  }
}

export function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${["th", "st", "nd", "rd"][n % 10] ?? "th"}`;
}

export function formatDate(iso: string): string {
  return new Date(iso).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

export const METRIC_LABELS: Record<string, string> = {
  points: "Points",
  calories: "Calories",
  distance: "Distance",
  duration: "Time",
  workouts: "Workouts",
  active_days: "Active days",
};

export const PERIOD_LABELS: Record<string, string> = {
  day: "Today",
  week: "This week",
  month: "This month",
  year: "This year",
  all: "All time",
};

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
