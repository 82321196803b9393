// Python's str.format as the Python projects fill their judge prompts (`template.format(question=…, answer=…)`):
// `{name}` takes the named value, `{{` and `}}` are literal braces; what Python would refuse (a lone brace, a field
// not given, a positional field) is an error, and a conversion or format spec is refused as unsupported. No tensor axes.

/** Fills `template` as Python's `template.format(**values)` would; throws an Error saying what is wrong otherwise. */
export function pythonFormat(template: string, values: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < template.length; ) {
    const c = template[i];
    if (c === '{') {
      if (template[i + 1] === '{') {
        out += '{';
        i += 2;
        continue;
      }
      const end = template.indexOf('}', i + 1);
      if (end < 0) throw new Error(`a "{" at character ${i + 1} is never closed (write "{{" for a literal brace)`);
      const field = template.slice(i + 1, end);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) throw new Error(`field "{${field}}" at character ${i + 1}: only named fields such as {question} are supported (write "{{" for a literal brace)`);
      if (!Object.hasOwn(values, field)) throw new Error(`field "{${field}}" has no value (the fields are ${Object.keys(values).map((k) => `{${k}}`).join(', ')})`);
      out += values[field];
      i = end + 1;
    } else if (c === '}') {
      if (template[i + 1] !== '}') throw new Error(`single "}" at character ${i + 1} (write "}}" for a literal brace)`);
      out += '}';
      i += 2;
    } else {
      const next = template.slice(i).search(/[{}]/);
      const stop = next < 0 ? template.length : i + next;
      out += template.slice(i, stop);
      i = stop;
    }
  }
  return out;
}

/** Null when `template` formats with exactly these field names, else the reason it does not. */
export function pythonTemplateProblem(template: string, names: string[]): string | null {
  try {
    pythonFormat(template, Object.fromEntries(names.map((n) => [n, ''])));
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
