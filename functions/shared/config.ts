// The one config reader: environment variables read and checked at cold start, failing loudly.

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function getStringFromEnv(name: string, defaultValue?: string): string {
  const value = process.env[name];
  if (value !== undefined && value !== '') return value;
  if (defaultValue !== undefined) return defaultValue;
  throw new ConfigError(
    `Environment variable ${name} is required but not set (check the function's configuration).`,
  );
}

export function getOptionalStringFromEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

export function getNumberFromEnv(name: string, defaultValue?: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    if (defaultValue !== undefined) return defaultValue;
    throw new ConfigError(
      `Environment variable ${name} is required but not set (check the function's configuration).`,
    );
  }
  const value = Number(raw);
  if (!Number.isFinite(value))
    throw new ConfigError(`Environment variable ${name} must be a number, got "${raw}".`);
  return value;
}
