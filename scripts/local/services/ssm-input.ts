// How the local SSM reads the members of a JSON 1.1 request: a string, a list of strings, a parameters map
// (name → list of strings). A member of another type reads as absent, an empty list or an empty map.
// Shapes as in the SendCommand API reference
// (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html).

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function strList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function paramMap(value: unknown): Record<string, string[]> {
  if (typeof value !== 'object' || value === null) return {};
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(value)) out[k] = strList(v);
  return out;
}
