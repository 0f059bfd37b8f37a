// Link to a command's full output in the CloudWatch Logs console. SSM writes one stream per step
// and stream type, named `<commandId>/<instanceId>/<step>/stdout|stderr`, so the link opens the log
// group filtered on the `<commandId>/<instanceId>` prefix: every stream of this run and no other.

/** The console's hash-route encoding: URI-encode, then write `%` as `$25` (`/` becomes `$252F`). */
function consoleEncode(value: string): string {
  return encodeURIComponent(value).replace(/%/g, '$25');
}

export function commandLogUrl(options: {
  region: string;
  logGroup: string;
  commandId: string;
  instanceId: string;
}): string {
  const { region, logGroup, commandId, instanceId } = options;
  const group = consoleEncode(logGroup);
  const filter = consoleEncode(`${commandId}/${instanceId}`);
  return (
    `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}` +
    `#logsV2:log-groups/log-group/${group}$3FlogStreamNameFilter$3D${filter}`
  );
}
