// Optional chat channels. Their secrets (a Slack webhook URL, a Telegram bot token) are read from
// Secrets Manager here and nowhere else, once per cold start, and never logged or returned: every
// error this module raises is written without the URL, the token or the response body.
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
// zod/mini: tree-shakeable, a few KB in the bundle where the classic API costs ~450 KB.
import * as z from 'zod/mini';

/** A chat channel that either delivers the text or throws a ChannelError. */
export interface Channel {
  readonly name: string;
  send(text: string): Promise<void>;
}

/** A channel failure, worded so it is safe to log and to store in history. */
export class ChannelError extends Error {
  override name = 'ChannelError';
}

/** How long one chat call may take: a hung webhook must not hold the SNS alert's λ. */
export const CHANNEL_TIMEOUT_MS = 5000;
/** Telegram rejects messages over 4,096 characters. */
export const TELEGRAM_MAX_CHARS = 4096;

export type SecretReader = (secretArn: string) => Promise<string>;

/** Reads each secret once per container; a failed read is not cached, so the next alert tries again. */
export function cachedSecretReader(secrets: Pick<SecretsManagerClient, 'send'>): SecretReader {
  const cache = new Map<string, Promise<string>>();
  return (secretArn) => {
    let value = cache.get(secretArn);
    if (!value) {
      value = secrets.send(new GetSecretValueCommand({ SecretId: secretArn })).then((output) => {
        if (output.SecretString === undefined) {
          throw new ChannelError(`secret ${secretArn} has no SecretString (store the value as text).`);
        }
        return output.SecretString;
      });
      cache.set(secretArn, value);
      value.catch(() => cache.delete(secretArn));
    }
    return value;
  };
}

async function post(channel: string, url: string, body: unknown, timeoutMs: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new ChannelError(`${channel}: no answer within ${timeoutMs} ms`);
    }
    // fetch's own error names the host, never the path (where the webhook secret lives): keep only its code.
    const code = (error as { cause?: { code?: string } }).cause?.code ?? name;
    throw new ChannelError(`${channel}: request failed (${code})`);
  }
  // Drain the body so the connection is released; its content may echo the request and is not kept.
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) throw new ChannelError(`${channel}: HTTP ${response.status}`);
}

export function slackChannel(
  secretArn: string,
  readSecret: SecretReader,
  timeoutMs = CHANNEL_TIMEOUT_MS,
): Channel {
  return {
    name: 'slack',
    async send(text) {
      const webhookUrl = (await readSecret(secretArn)).trim();
      if (!/^https?:\/\//.test(webhookUrl)) {
        throw new ChannelError(
          `slack: secret ${secretArn} must hold the incoming webhook URL (https://hooks.slack.com/…).`,
        );
      }
      await post('slack', webhookUrl, { text }, timeoutMs);
    },
  };
}

const telegramSecretSchema = z.object({
  botToken: z.string().check(z.minLength(1)),
  chatId: z.union([z.string().check(z.minLength(1)), z.number()]),
});

export function telegramChannel(
  secretArn: string,
  readSecret: SecretReader,
  apiBase: string,
  timeoutMs = CHANNEL_TIMEOUT_MS,
): Channel {
  return {
    name: 'telegram',
    async send(text) {
      let secret: z.infer<typeof telegramSecretSchema>;
      try {
        secret = telegramSecretSchema.parse(JSON.parse(await readSecret(secretArn)));
      } catch (error) {
        if (error instanceof ChannelError) throw error;
        // Neither the parse error nor zod's issues are passed on: they could quote the secret.
        throw new ChannelError(
          `telegram: secret ${secretArn} must be JSON {"botToken": "…", "chatId": "…"}.`,
        );
      }
      const url = `${apiBase.replace(/\/+$/, '')}/bot${secret.botToken}/sendMessage`;
      const body = {
        chat_id: secret.chatId,
        text: text.length <= TELEGRAM_MAX_CHARS ? text : `${text.slice(0, TELEGRAM_MAX_CHARS - 1)}…`,
        disable_web_page_preview: true,
      };
      await post('telegram', url, body, timeoutMs);
    },
  };
}
