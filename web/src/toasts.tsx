// Toasts: short notices (a badge earned, someone overtaking) read out by screen readers.

import { useCallback, useRef, useState } from "preact/hooks";
import type { ToastInput } from "./context";

interface Toast extends ToastInput {
  id: number;
}

const SHOWN_MS = 8000;

export function useToasts(): { toasts: Toast[]; push(toast: ToastInput): void; dismiss(id: number): void } {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((all) => all.filter((t) => t.id !== id)), []);
  const push = useCallback(
    (toast: ToastInput) => {
      const id = next.current++;
      setToasts((all) => [...all.slice(-3), { ...toast, id }]);
      setTimeout(() => dismiss(id), SHOWN_MS);
    },
    [dismiss],
  );
  return { toasts, push, dismiss };
}

export function Toasts(props: { toasts: Toast[]; dismiss(id: number): void }) {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {props.toasts.map((toast) => (
        <div key={toast.id} class={`toast ${toast.kind ?? "info"}`} data-toast={toast.kind ?? "info"}>
          <span class="toast-icon" aria-hidden="true">
            {toast.kind === "badge" ? "★" : toast.kind === "overtaken" ? "⇡" : toast.kind === "error" ? "!" : "✓"}
          </span>
          <div>
            <strong>{toast.title}</strong>
            {toast.body && <p>{toast.body}</p>}
          </div>
          <button type="button" class="toast-close" aria-label="Dismiss" onClick={() => props.dismiss(toast.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
