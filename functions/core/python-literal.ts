// The two Python functions Ansible's INI inventory plugin reads values with (ansible.builtin.ini,
// plugins/inventory/ini.py in ansible-core 2.14):
// - host lines are split with `shlex.split(line, comments=True)` (POSIX mode);
// - every value, on host lines and in `[group:vars]`, goes through `ast.literal_eval`, and stays the
//   text as written when that fails ("Values passed in the INI format using the key=value syntax are
//   interpreted as Python literal structures": https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html).
// Ported to the letter for what an inventory can hold; the differential test
// (test/core/inventory-corpus.ansible.test.ts) checks both against ansible-inventory.
import { type AnsibleValue, PyFloat, pythonFloatRepr } from './ansible-value.js';

/** shlex.split(line, comments=True): POSIX quoting, `\` escapes, `#` anywhere outside quotes ends the line. */
export function shlexSplit(line: string): string[] {
  const tokens: string[] = [];
  let token = '';
  let quoted = false;
  let inToken = false;
  let i = 0;
  const push = () => {
    if (inToken || quoted) tokens.push(token);
    token = '';
    quoted = false;
    inToken = false;
  };
  while (i < line.length) {
    const c = line[i] as string;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      push();
      i++;
    } else if (c === '#') {
      break;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new Error('a trailing "\\" escapes nothing');
      token += line[i + 1];
      inToken = true;
      i += 2;
    } else if (c === "'" || c === '"') {
      quoted = true;
      inToken = true;
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`unclosed ${c} quote`);
        const q = line[i] as string;
        if (q === c) {
          i++;
          break;
        }
        // Inside double quotes a backslash escapes only `"` and `\` (and is kept before anything else).
        if (c === '"' && q === '\\') {
          if (i + 1 >= line.length) throw new Error('a trailing "\\" escapes nothing');
          const next = line[i + 1] as string;
          token += next === '"' || next === '\\' ? next : `\\${next}`;
          i += 2;
        } else {
          token += q;
          i++;
        }
      }
    } else {
      token += c;
      inToken = true;
      i++;
    }
  }
  push();
  return tokens;
}

/** Thrown for what Python's parser or literal_eval rejects (SyntaxError / ValueError): the caller keeps the text. */
class NotALiteral extends Error {}

type Token =
  | { kind: 'num'; value: AnsibleValue; complex: boolean }
  | { kind: 'str'; value: string; bytes: boolean }
  | { kind: 'name'; value: string }
  | { kind: 'op'; value: string }
  | { kind: 'end' };

const NUMBER =
  /^(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?[jJ]?)/;
const STRING_PREFIX = /^(?:[rRuUbB]|[bB][rR]|[rR][bB]|[fF]|[fF][rR]|[rR][fF])?(?='|")/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '#') break;
    if (c === '\\' && (text[i + 1] === '\n' || i + 1 === text.length)) throw new NotALiteral();
    const rest = text.slice(i);
    const prefix = STRING_PREFIX.exec(rest);
    if (prefix) {
      const p = prefix[0].toLowerCase();
      if (p.includes('f')) throw new NotALiteral(); // an f-string is not a literal
      const { value, length } = readString(rest.slice(p.length), p.includes('r'), p.includes('b'));
      tokens.push({ kind: 'str', value, bytes: p.includes('b') });
      i += p.length + length;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = NUMBER.exec(rest);
      if (!m) throw new NotALiteral();
      const literal = m[0];
      // A number running into a name (`1abc`, `0x1g`) or a decimal with leading zeros (`012`) is a SyntaxError.
      if (/^[A-Za-z0-9_]/.test(rest.slice(literal.length))) throw new NotALiteral();
      tokens.push(numberToken(literal));
      i += literal.length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (name) {
      tokens.push({ kind: 'name', value: name[0] });
      i += name[0].length;
      continue;
    }
    if ('()[]{},:+-'.includes(c)) {
      tokens.push({ kind: 'op', value: c });
      i++;
      continue;
    }
    throw new NotALiteral();
  }
  tokens.push({ kind: 'end' });
  return tokens;
}

function numberToken(literal: string): Token {
  const text = literal.replace(/_/g, '');
  if (/[jJ]$/.test(text)) return { kind: 'num', value: null, complex: true };
  const lower = text.toLowerCase();
  if (lower.startsWith('0x'))
    return { kind: 'num', value: Number.parseInt(text.slice(2), 16), complex: false };
  if (lower.startsWith('0o'))
    return { kind: 'num', value: Number.parseInt(text.slice(2), 8), complex: false };
  if (lower.startsWith('0b'))
    return { kind: 'num', value: Number.parseInt(text.slice(2), 2), complex: false };
  if (/[.eE]/.test(text)) return { kind: 'num', value: new PyFloat(Number(text)), complex: false };
  // Python: "leading zeros in decimal integer literals are not permitted" (but 0, 00 are fine).
  if (/^0\d/.test(text) && !/^0+$/.test(text)) throw new NotALiteral();
  return { kind: 'num', value: Number(text), complex: false };
}

function readString(text: string, raw: boolean, bytes: boolean): { value: string; length: number } {
  const quote = text.startsWith("'''") || text.startsWith('"""') ? text.slice(0, 3) : (text[0] as string);
  let i = quote.length;
  let value = '';
  for (;;) {
    if (i >= text.length) throw new NotALiteral();
    if (text.startsWith(quote, i)) return { value, length: i + quote.length };
    const c = text[i] as string;
    if (c === '\n' && quote.length === 1) throw new NotALiteral();
    if (c !== '\\') {
      if (bytes && c.charCodeAt(0) > 127) throw new NotALiteral();
      value += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === undefined) throw new NotALiteral();
    if (raw) {
      value += c + next;
      i += 2;
      continue;
    }
    const simple: Record<string, string> = {
      '\n': '',
      '\\': '\\',
      "'": "'",
      '"': '"',
      a: '\x07',
      b: '\b',
      f: '\f',
      n: '\n',
      r: '\r',
      t: '\t',
      v: '\v',
    };
    if (Object.hasOwn(simple, next)) {
      value += simple[next];
      i += 2;
      continue;
    }
    const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1));
    if (octal) {
      value += String.fromCodePoint(Number.parseInt(octal[0], 8));
      i += 1 + octal[0].length;
      continue;
    }
    const hexLength = next === 'x' ? 2 : !bytes && next === 'u' ? 4 : !bytes && next === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = text.slice(i + 2, i + 2 + hexLength);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) throw new NotALiteral();
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff) throw new NotALiteral();
      value += String.fromCodePoint(code);
      i += 2 + hexLength;
      continue;
    }
    if (!bytes && next === 'N') throw new NotALiteral(); // \N{name}: not supported, kept as text
    // An unknown escape keeps its backslash (Python warns, but accepts it).
    value += c + next;
    i += 2;
  }
}

class Parser {
  private at = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.at] as Token;
  }

  private isOp(value: string): boolean {
    const token = this.peek();
    return token.kind === 'op' && token.value === value;
  }

  private expectOp(value: string): void {
    if (!this.isOp(value)) throw new NotALiteral();
    this.at++;
  }

  parseAll(): AnsibleValue {
    const value = this.expression();
    if (this.peek().kind !== 'end') throw new NotALiteral();
    return value;
  }

  /** A top-level or parenthesised expression: a bare `1, 2` is a tuple. */
  private expression(): AnsibleValue {
    const first = this.atom();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.isOp(',')) {
      this.at++;
      if (this.peek().kind === 'end' || this.isOp(')')) break;
      items.push(this.atom());
    }
    return items;
  }

  private atom(): AnsibleValue {
    const token = this.peek();
    this.at++;
    if (token.kind === 'num') {
      if (token.complex || this.isOp('+') || this.isOp('-')) throw new NotALiteral(); // complex numbers
      return token.value;
    }
    if (token.kind === 'str') {
      let value = token.value;
      // Adjacent literals concatenate; mixing bytes and text is a SyntaxError.
      for (let next = this.peek(); next.kind === 'str'; next = this.peek()) {
        if (next.bytes !== token.bytes) throw new NotALiteral();
        value += next.value;
        this.at++;
      }
      return value;
    }
    if (token.kind === 'name') {
      if (token.value === 'True') return true;
      if (token.value === 'False') return false;
      if (token.value === 'None') return null;
      throw new NotALiteral();
    }
    if (token.kind === 'op') {
      if (token.value === '+' || token.value === '-') {
        const operand = this.peek();
        if (operand.kind !== 'num' || operand.complex) throw new NotALiteral();
        this.at++;
        if (this.isOp('+') || this.isOp('-')) throw new NotALiteral();
        if (token.value === '+') return operand.value;
        return operand.value instanceof PyFloat
          ? new PyFloat(-operand.value.value)
          : -(operand.value as number);
      }
      if (token.value === '(') {
        if (this.isOp(')')) {
          this.at++;
          return [];
        }
        const inner = this.expression();
        this.expectOp(')');
        return inner;
      }
      if (token.value === '[') return this.sequence(']');
      if (token.value === '{') return this.mapping();
    }
    throw new NotALiteral();
  }

  private sequence(close: string): AnsibleValue[] {
    const items: AnsibleValue[] = [];
    while (!this.isOp(close)) {
      items.push(this.atom());
      if (this.isOp(',')) this.at++;
      else if (!this.isOp(close)) throw new NotALiteral();
    }
    this.at++;
    return items;
  }

  private mapping(): { [key: string]: AnsibleValue } {
    const entries: [string, AnsibleValue][] = [];
    while (!this.isOp('}')) {
      const key = this.atom();
      // A set ({1, 2}) has no JSON form (ansible-inventory fails on it): not supported.
      if (!this.isOp(':')) throw new NotALiteral();
      this.at++;
      if (Array.isArray(key) || (key !== null && typeof key === 'object' && !(key instanceof PyFloat))) {
        throw new NotALiteral(); // unhashable key
      }
      entries.push([jsonKey(key), this.atom()]);
      if (this.isOp(',')) this.at++;
      else if (!this.isOp('}')) throw new NotALiteral();
    }
    this.at++;
    const out: { [key: string]: AnsibleValue } = {};
    for (const [key, value] of entries)
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    return out;
  }
}

/** How Python's json module writes a dict key. */
function jsonKey(key: AnsibleValue): string {
  if (typeof key === 'string') return key;
  if (key === null) return 'null';
  if (typeof key === 'boolean') return key ? 'true' : 'false';
  if (key instanceof PyFloat) return pythonFloatRepr(key.value);
  return String(key);
}

/**
 * ast.literal_eval(text) as Ansible's INI plugin applies it: the Python value when `text` is a literal
 * (`8080`, `0x1F`, `1e3`, `None`, `True`, `'a\tb'`, `[1, 2]`, `8080 # a comment`), else the text itself.
 */
export function literalEval(text: string): AnsibleValue {
  try {
    // literal_eval strips leading spaces and tabs before parsing.
    return new Parser(tokenize(text.replace(/^[ \t]+/, ''))).parseAll();
  } catch (error) {
    if (error instanceof NotALiteral) return text;
    throw error;
  }
}
