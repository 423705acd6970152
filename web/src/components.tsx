// Small building blocks shared by the pages.

import type { ComponentChildren, InputHTMLAttributes, LooseInputHTMLAttributes } from "preact";
import { useId } from "preact/hooks";
import { followLink } from "./router";

export function Link(props: { href: string; class?: string; children: ComponentChildren; current?: boolean }) {
  return (
    <a
      href={props.href}
      class={props.class}
      aria-current={props.current ? "page" : undefined}
      onClick={(event) => followLink(event, props.href)}
    >
      {props.children}
    </a>
  );
}

type InputProps = LooseInputHTMLAttributes<HTMLInputElement>;

/** A labelled input whose error (from the form's checks or the API's 422) sits right under it. */
export function Field(props: {
  label: string;
  error?: string | undefined;
  hint?: string;
  input: InputProps;
  name: string;
}) {
  const id = useId();
  const describedBy = [props.hint ? `${id}-hint` : "", props.error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class={`field${props.error ? " invalid" : ""}`}>
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={describedBy || undefined}
        // Preact types <input> as a union keyed by `type`; the props come from the callers' literals.
        {...(props.input as InputHTMLAttributes<HTMLInputElement>)}
      />
      {props.hint && (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="error" id={`${id}-error`} data-field-error={props.name}>
          {props.error}
        </p>
      )}
    </div>
  );
}

export function SelectField(props: {
  label: string;
  name: string;
  value: string;
  options: { value: string; label: string }[];
  onChange: (value: string) => void;
  error?: string | undefined;
}) {
  const id = useId();
  return (
    <div class={`field${props.error ? " invalid" : ""}`}>
      <label for={id}>{props.label}</label>
      <select
        id={id}
        name={props.name}
        value={props.value}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={props.error ? `${id}-error` : undefined}
        onChange={(event) => props.onChange((event.target as HTMLSelectElement).value)}
      >
        {props.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      {props.error && (
        <p class="error" id={`${id}-error`} data-field-error={props.name}>
          {props.error}
        </p>
      )}
    </div>
  );
}

export function Alert(props: { children: ComponentChildren; kind?: "error" | "info" }) {
  return (
    <p class={`alert ${props.kind ?? "error"}`} role={props.kind === "info" ? "status" : "alert"}>
      {props.children}
    </p>
  );
}

export function Card(props: { title?: string; children: ComponentChildren; class?: string; headingLevel?: 2 | 3 }) {
  const Heading = props.headingLevel === 3 ? "h3" : "h2";
  return (
    <section class={`card ${props.class ?? ""}`}>
      {props.title && <Heading>{props.title}</Heading>}
      {props.children}
    </section>
  );
}

export function Progress(props: { value: number; label: string }) {
  const percent = Math.max(0, Math.min(100, Math.round(props.value * 100)));
  return (
    <div class="progress" role="progressbar" aria-label={props.label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
      <div class="progress-bar" style={{ width: `${percent}%` }} />
    </div>
  );
}
