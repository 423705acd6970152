// The athlete's profile: what calories are computed from, and whether boards list them.

import { useState } from "preact/hooks";
import { api, ApiError, type FieldErrors } from "../api";
import { Alert, Card, Field, SelectField } from "../components";
import { useApp } from "../context";
import type { User } from "../types";

function timeZones(current: string): string[] {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes(current) ? zones : [current, ...zones];
}

export function ProfilePage() {
  const { user, setUser, toast } = useApp();
  const [displayName, setDisplayName] = useState(user.display_name);
  const [weight, setWeight] = useState(user.weight_kg === null ? "" : String(user.weight_kg));
  const [birthYear, setBirthYear] = useState(user.birth_year === null ? "" : String(user.birth_year));
  const [sex, setSex] = useState(user.sex ?? "");
  const [timezone, setTimezone] = useState(user.timezone);
  const [visible, setVisible] = useState(user.show_on_leaderboards);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const patch: Partial<User> = {};
    const found: FieldErrors = {};
    if (displayName.trim() !== user.display_name) patch.display_name = displayName.trim();
    if (weight.trim() !== "") {
      const value = Number(weight);
      if (!Number.isFinite(value) || value <= 20 || value >= 400) found.weight_kg = "must be more than 20 and less than 400 kg";
      else if (value !== user.weight_kg) patch.weight_kg = value;
    }
    if (birthYear.trim() !== "") {
      const value = Number(birthYear);
      if (!Number.isInteger(value) || value < 1900 || value > 2100) found.birth_year = "must be a year between 1900 and 2100";
      else if (value !== user.birth_year) patch.birth_year = value;
    }
    if (sex && sex !== user.sex) patch.sex = sex;
    if (timezone !== user.timezone) patch.timezone = timezone;
    if (visible !== user.show_on_leaderboards) patch.show_on_leaderboards = visible;
    setErrors(found);
    setMessage(null);
    if (Object.keys(found).length > 0) return;
    if (Object.keys(patch).length === 0) {
      setMessage("Nothing to save: no field was changed.");
      return;
    }
    setBusy(true);
    try {
      const updated = await api.updateMe(patch);
      setUser(updated);
      toast({ title: "Profile saved" });
    } catch (error) {
      if (error instanceof ApiError) {
        setErrors(error.fields);
        if (Object.keys(error.fields).length === 0) setMessage(error.message);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="page">
      <div class="page-head">
        <h1>Profile</h1>
        <span class="muted">@{user.username}</span>
      </div>
      <Card>
        <form onSubmit={submit} noValidate aria-label="Profile">
          <Field label="Display name" name="display_name" error={errors.display_name} input={{ value: displayName, maxLength: 64, onInput: (e) => setDisplayName((e.target as HTMLInputElement).value) }} />
          <div class="row">
            <Field
              label="Weight (kg)"
              name="weight_kg"
              hint="Used to estimate the calories of your workouts."
              error={errors.weight_kg}
              input={{ type: "number", inputMode: "decimal", step: "any", value: weight, onInput: (e) => setWeight((e.target as HTMLInputElement).value) }}
            />
            <Field
              label="Birth year"
              name="birth_year"
              error={errors.birth_year}
              input={{ type: "number", inputMode: "numeric", step: 1, value: birthYear, onInput: (e) => setBirthYear((e.target as HTMLInputElement).value) }}
            />
          </div>
          <div class="row">
            <SelectField
              label="Sex"
              name="sex"
              value={sex}
              error={errors.sex}
              options={[
                ...(user.sex ? [] : [{ value: "", label: "Not said" }]),
                { value: "female", label: "Female" },
                { value: "male", label: "Male" },
              ]}
              onChange={setSex}
            />
            <SelectField
              label="Time zone"
              name="timezone"
              value={timezone}
              error={errors.timezone}
              options={timeZones(user.timezone).map((z) => ({ value: z, label: z }))}
              onChange={setTimezone}
            />
          </div>
          <div class="field checkbox">
            <input id="show-on-boards" type="checkbox" checked={visible} onChange={(e) => setVisible((e.target as HTMLInputElement).checked)} />
            <label for="show-on-boards">Show me on leaderboards</label>
          </div>
          {message && <Alert kind="info">{message}</Alert>}
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Saving…" : "Save profile"}
          </button>
        </form>
      </Card>
    </div>
  );
}
