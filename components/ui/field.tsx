import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';

export const inputClass =
  'block w-full rounded-md border-0 bg-white px-2.5 py-1.5 text-sm text-zinc-900 shadow-sm ring-1 ring-inset ring-zinc-300 placeholder:text-zinc-400 focus:ring-2 focus:ring-inset focus:ring-indigo-600 focus:outline-none disabled:bg-zinc-50 disabled:text-zinc-500 aria-[invalid=true]:ring-red-500';

interface Common {
  label: string;
  hint?: ReactNode;
  error?: string | null;
}

function Wrap({ id, label, hint, error, children, className = '' }: Common & { id: string; children: ReactNode; className?: string }) {
  return (
    <div className={className}>
      <label htmlFor={id} className="block text-xs font-medium text-zinc-700">
        {label}
      </label>
      <div className="mt-1">{children}</div>
      {error ? (
        <p id={`${id}-err`} role="alert" className="mt-1 text-xs text-red-600">
          {error}
        </p>
      ) : hint ? (
        <p id={`${id}-hint`} className="mt-1 text-xs text-zinc-500">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

export function TextField({ label, hint, error, className, ...rest }: Common & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <Wrap id={id} label={label} hint={hint} error={error} className={className}>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-err` : hint ? `${id}-hint` : undefined} className={inputClass} {...rest} />
    </Wrap>
  );
}

export function TextArea({ label, hint, error, className, ...rest }: Common & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const id = useId();
  return (
    <Wrap id={id} label={label} hint={hint} error={error} className={className}>
      <textarea id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-err` : hint ? `${id}-hint` : undefined} className={inputClass} rows={2} {...rest} />
    </Wrap>
  );
}

/** A select; `options` (each its own value and label) stands for the <option> children. */
export function SelectField({ label, hint, error, className, options, children, ...rest }: Common & { options?: readonly string[] } & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  return (
    <Wrap id={id} label={label} hint={hint} error={error} className={className}>
      <select id={id} aria-invalid={error ? true : undefined} className={`${inputClass} pr-8`} {...rest}>
        {options
          ? options.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))
          : children}
      </select>
    </Wrap>
  );
}

export function Checkbox({ label, hint, ...rest }: { label: string; hint?: string } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="flex items-start gap-2">
      <input id={id} type="checkbox" className="mt-0.5 size-4 rounded border-zinc-300 text-indigo-600 focus-visible:outline-2 focus-visible:outline-indigo-600" {...rest} />
      <div>
        <label htmlFor={id} className="text-sm text-zinc-800">
          {label}
        </label>
        {hint ? <p className="text-xs text-zinc-500">{hint}</p> : null}
      </div>
    </div>
  );
}

interface FormErrorValue {
  message: string;
  field?: string;
}

/** The message of `error` when it is about `field` (for that field's `error` prop), else null. */
export const fieldError = (error: FormErrorValue | null | undefined, field: string): string | null => (error?.field === field ? error.message : null);

/** A form's error where no field shows it: nothing when `error` is about one of `fields`, which show it themselves. */
export function FormError({ error, fields = [], className }: { error: FormErrorValue | null | undefined; fields?: readonly string[]; className?: string }) {
  if (!error || (error.field !== undefined && fields.includes(error.field))) return null;
  return (
    <p role="alert" className={className ? `${className} text-sm text-red-600` : 'text-sm text-red-600'}>
      {error.message}
    </p>
  );
}
