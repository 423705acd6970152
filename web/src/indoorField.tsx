// The "Indoors" box of the workout form, asked only for the activities whose calories it
// changes (workoutForm.INDOOR_DEFAULT): ticked by default for a row (an ergometer), unticked
// for a ride (outdoors), as the API takes them when nothing is said.

import { useId } from "preact/hooks";
import { indoorShown, type WorkoutDraft } from "./workoutForm";

const WORDING: Record<string, { label: string; hint: string }> = {
  row: {
    label: "Indoors (rowing ergometer)",
    hint: "Untick for rowing on water: the calories come from the on-water rows.",
  },
  cycle: {
    label: "Indoors (on a trainer)",
    hint: "A trainer's distance is virtual: the calories come from stationary cycling.",
  },
};

export function IndoorField(props: {
  draft: Pick<WorkoutDraft, "activity" | "indoor">;
  onChange: (indoor: boolean) => void;
  error?: string | undefined;
}) {
  const id = useId();
  const checked = indoorShown(props.draft);
  const wording = WORDING[props.draft.activity];
  if (checked === null || wording === undefined) return null;
  const describedBy = [`${id}-hint`, props.error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class={`field checkbox-field${props.error ? " invalid" : ""}`}>
      <div class="check">
        <input
          id={id}
          name="indoor"
          type="checkbox"
          checked={checked}
          aria-invalid={props.error ? true : undefined}
          aria-describedby={describedBy}
          onChange={(event) => props.onChange((event.target as HTMLInputElement).checked)}
        />
        <label for={id}>{wording.label}</label>
      </div>
      <p class="hint" id={`${id}-hint`}>
        {wording.hint}
      </p>
      {props.error && (
        <p class="error" id={`${id}-error`} data-field-error="indoor">
          {props.error}
        </p>
      )}
    </div>
  );
}
