// Links in local mode: the local stack (npm start -- --serve) writes each command's output under a folder
// it names in AUTOPROV_LOCAL_LOGS, and has no AWS console. There the CLI shows that folder instead of a
// CloudWatch console link nobody can open.

/** The console link's parts: `…/log-group/<group>$3FlogStreamNameFilter$3D<commandId>/<instanceId>`. */
export function parseCommandLogUrl(
  url: string,
): { logGroup: string; commandId: string; instanceId: string } | undefined {
  const match = /#logsV2:log-groups\/log-group\/(.+?)\$3FlogStreamNameFilter\$3D(.+)$/.exec(url);
  if (!match?.[1] || !match[2]) return undefined;
  const decode = (value: string) => decodeURIComponent(value.replace(/\$25/g, '%'));
  const [commandId, instanceId] = decode(match[2]).split('/');
  if (!commandId || !instanceId) return undefined;
  return { logGroup: decode(match[1]), commandId, instanceId };
}

/**
 * The local folder of a command's output (scripts/local/ssm-agent.ts writes
 * `<dir>/<log group, sanitised>/<commandId>/<instanceId>/<step>/stdout|stderr`), or the URL unchanged
 * outside local mode.
 */
export function localLogLink(url: string, localLogs: string | undefined): string {
  if (!localLogs) return url;
  const parts = parseCommandLogUrl(url);
  if (!parts) return url;
  const group = parts.logGroup.replace(/^\/+/, '').replace(/[^\w.-]+/g, '_');
  return `${localLogs.replace(/\/+$/, '')}/${group}/${parts.commandId}/${parts.instanceId}`;
}
