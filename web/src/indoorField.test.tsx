import { cleanup, fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { IndoorField } from "./indoorField";

afterEach(cleanup);

describe("IndoorField", () => {
  it("asks about a row, ticked by default, and reports the choice", () => {
    const chosen: boolean[] = [];
    render(<IndoorField draft={{ activity: "row", indoor: null }} onChange={(v) => chosen.push(v)} />);
    const box = screen.getByLabelText<HTMLInputElement>("Indoors (rowing ergometer)");
    expect(box.type).toBe("checkbox");
    expect(box.name).toBe("indoor");
    expect(box.checked).toBe(true);
    fireEvent.click(box);
    expect(chosen).toEqual([false]);
    // The hint says what unticking means, and is tied to the box for screen readers.
    const hint = document.getElementById(box.getAttribute("aria-describedby") ?? "");
    expect(hint?.textContent).toMatch(/on water/);
  });

  it("asks about a ride, unticked by default, and keeps a choice made", () => {
    const { rerender } = render(<IndoorField draft={{ activity: "cycle", indoor: null }} onChange={() => {}} />);
    expect(screen.getByLabelText<HTMLInputElement>("Indoors (on a trainer)").checked).toBe(false);
    rerender(<IndoorField draft={{ activity: "cycle", indoor: true }} onChange={() => {}} />);
    expect(screen.getByLabelText<HTMLInputElement>("Indoors (on a trainer)").checked).toBe(true);
  });

  it("is not shown where indoors changes nothing", () => {
    const { container } = render(<IndoorField draft={{ activity: "run", indoor: true }} onChange={() => {}} />);
    expect(container.querySelector("input")).toBeNull();
  });

  it("shows the API's refusal next to the box", () => {
    render(<IndoorField draft={{ activity: "row", indoor: null }} onChange={() => {}} error="Input should be a valid boolean" />);
    const box = screen.getByLabelText("Indoors (rowing ergometer)");
    expect(box.getAttribute("aria-invalid")).toBe("true");
    const error = document.querySelector("[data-field-error=indoor]");
    expect(error?.textContent).toBe("Input should be a valid boolean");
    expect(box.getAttribute("aria-describedby")?.split(" ")).toContain(error?.id);
  });
});
