import type { ComponentChildren } from "preact";
import { useId } from "preact/hooks";

/** A form control and its label: the label wraps the control, so it names it. */
export function Field({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <label>
      {label}
      {children}
    </label>
  );
}

type TextFieldProps = {
  label: string;
  value: string;
  /** Called with the new text on every edit. */
  onValue: (value: string) => void;
  /** A textarea rather than a one-line input. */
  multiline?: boolean;
  /** What the field takes, shown below it and described to assistive technology. */
  hint?: string;
  type?: "email" | "password" | "text";
  autocomplete?: string;
  required?: boolean;
  minLength?: number;
  maxLength?: number;
};

/** A labelled text input (a textarea when `multiline`) bound to `value`, and its hint if any. */
export function TextField({ label, value, onValue, multiline, hint, type, ...attrs }: TextFieldProps) {
  const hintId = useId();
  const described = { ...attrs, "aria-describedby": hint ? hintId : undefined };
  const onInput = (e: { currentTarget: HTMLInputElement | HTMLTextAreaElement }) => onValue(e.currentTarget.value);
  return (
    <>
      <Field label={label}>
        {multiline ? <textarea {...described} value={value} onInput={onInput} /> : <input type={type} {...described} value={value} onInput={onInput} />}
      </Field>
      {hint && <small id={hintId}>{hint}</small>}
    </>
  );
}
