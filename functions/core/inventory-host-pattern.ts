// Host patterns, as ansible.parsing.utils.addresses.parse_address and expand_hostname_range:
// `name`, `name:port`, `10.0.0.1:22`, `fe80::1`, `[fe80::1]:2222`, `web[01:03]`, `db-[a:c]`, `n[1:9:2]`.

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

const NUMERIC_RANGE = String.raw`\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const HEX_RANGE = String.raw`\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`;
const ALNUM_RANGE = String.raw`\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const V6 = `(?:[0-9a-f]{1,4}|${HEX_RANGE})`;
const V4 = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|${NUMERIC_RANGE})`;
// Python's \w with re.UNICODE: letters, digits, marks and _.
const WORD = String.raw`[\p{L}\p{N}\p{M}_]`;
const LABEL = `(?:${WORD}|${ALNUM_RANGE})(?:${WORD}|-|${ALNUM_RANGE})*(?<![_-])`;
const ADDRESS = {
  bracketedHostPort: /^\[(.+)\]:([0-9]+)$/,
  hostPort: /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/,
  ipv4: new RegExp(String.raw`^(?:${V4}\.){3}${V4}$`, 'i'),
  ipv6: new RegExp(
    String.raw`^(?:(?:${V6}:){7}${V6}|(?:${V6}:){1,6}:|(?:${V6}:)(?::${V6}){1,6}|(?:${V6}:){2}(?::${V6}){1,5}|(?:${V6}:){3}(?::${V6}){1,4}|(?:${V6}:){4}(?::${V6}){1,3}|(?:${V6}:){5}(?::${V6}){1,2}|(?:${V6}:){6}(?::${V6})|:(?::${V6}){1,6}|${V6}?::|(?:0:){6}(?:${V6}\.){3}${V6}|::(?:ffff:)?(?:${V6}\.){3}${V6}|(?:0:){5}ffff:(?:${V6}\.){3}${V6})$`,
    'i',
  ),
  hostname: new RegExp(String.raw`^${LABEL}(?:\.${LABEL})*$`, 'iu'),
};

export interface HostPattern {
  readonly names: string[];
  readonly port?: number;
}

/** parse_address(pattern, allow_ranges=True); undefined where Ansible's raises (the pattern is then a plain name). */
function parseAddress(pattern: string): { host: string; port?: number } | undefined {
  let address = pattern;
  let port: number | undefined;
  // Both forms are tried in turn, as in Ansible (the second sees what the first left).
  for (const form of [ADDRESS.bracketedHostPort, ADDRESS.hostPort]) {
    const m = form.exec(address);
    if (m) {
      address = m[1] as string;
      port = Number(m[2]);
    }
  }
  if (!(ADDRESS.ipv4.test(address) || ADDRESS.ipv6.test(address) || ADDRESS.hostname.test(address))) {
    return undefined;
  }
  return port === undefined ? { host: address } : { host: address, port };
}

export function parseHostPattern(pattern: string, fail: (reason: string) => never): HostPattern {
  const parsed = parseAddress(pattern);
  // Like Ansible, a pattern that is not a valid address is taken whole, without a port.
  const name = parsed?.host ?? pattern;
  if (name === '') fail(`invalid host pattern "${pattern}": empty host name`);
  const names = name.includes('[') || name.includes(']') ? expandRanges(name, pattern, fail) : [name];
  return parsed?.port === undefined ? { names } : { names, port: parsed.port };
}

function expandRanges(name: string, pattern: string, fail: (reason: string) => never): string[] {
  const open = name.indexOf('[');
  if (open < 0) return [name];
  const close = name.indexOf(']');
  if (close < 0) fail(`invalid host range in "${pattern}": "[" is never closed`);
  if (close < open) fail(`invalid host range in "${pattern}": "]" without "["`);
  const head = name.slice(0, open);
  const body = name.slice(open + 1, close);
  const tail = name.slice(close + 1);
  const ipv6Hint = pattern.startsWith('[') ? '; an IPv6 address with a port is written [fe80::1]:2222' : '';
  const bad = (why: string): never =>
    fail(
      `invalid host range [${body}] in "${pattern}": ${why} (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c]${ipv6Hint})`,
    );
  const bounds = body.split(':');
  if (bounds.length < 2 || bounds.length > 3) bad('wrong number of ":"');
  const begin = bounds[0] === '' ? '0' : (bounds[0] as string);
  const end = bounds[1] as string;
  const stepText = bounds[2] ?? '1';
  if (end === '') bad('missing end');
  if (!/^[1-9]\d*$/.test(stepText)) bad('step must be a positive integer');
  const step = Number(stepText);
  const width = begin.length > 1 && begin.startsWith('0') ? begin.length : 0;
  if (width > 0 && end.length !== width) bad('zero-padded begin and end must have the same width');
  let items: string[];
  if (/^[A-Za-z]$/.test(begin) && /^[A-Za-z]$/.test(end)) {
    const from = LETTERS.indexOf(begin);
    const to = LETTERS.indexOf(end);
    if (from > to) bad('begin is after end');
    items = [];
    for (let i = from; i <= to; i += step) items.push(LETTERS[i] as string);
  } else if (/^\d+$/.test(begin) && /^\d+$/.test(end)) {
    const from = Number(begin);
    const to = Number(end);
    if (from > to) bad('begin is greater than end');
    if ((to - from) / step > 100_000) bad('range is too large');
    items = [];
    for (let i = from; i <= to; i += step) items.push(String(i).padStart(width, '0'));
  } else {
    items = bad('bounds must both be integers or both single letters');
  }
  return items.flatMap((item) => expandRanges(`${head}${item}${tail}`, pattern, fail));
}
