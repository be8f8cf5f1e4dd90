import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GuardError } from '../../lib/core/errors.ts';
import { generateSigningKeys } from '../../lib/format/signature.ts';
import type { Command } from '../cli.ts';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'Make an Ed25519 key pair for signed backups (BACKUP_SIGNING_KEY / BACKUP_VERIFY_KEY).',
  usage: 'prisma-guard keygen [--out DIR] [--name NAME] [--json]\n  Writes DIR/NAME.key (private, mode 0600: keep it on the machines that back up) and DIR/NAME.pub.',
  options: { out: { type: 'string' }, name: { type: 'string' } },
  async run(io) {
    const dir = path.resolve((io.values.out as string | undefined) ?? '.');
    const name = (io.values.name as string | undefined) ?? 'prisma-guard-signing';
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new GuardError('USAGE', `--name "${name}" is not a plain file name.`, { hint: 'Use letters, digits, dots, dashes.' });
    const keyFile = path.join(dir, `${name}.key`);
    const pubFile = path.join(dir, `${name}.pub`);
    for (const f of [keyFile, pubFile]) {
      if (existsSync(f)) throw new GuardError('USAGE', `${f} already exists; keygen never overwrites a key.`, { hint: 'Pass --name for a new key (key rotation: add its public key to BACKUP_VERIFY_KEY beside the old one).' });
    }
    const k = generateSigningKeys();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, k.privatePem, { mode: 0o600, flag: 'wx' });
    writeFileSync(pubFile, k.publicPem, { mode: 0o644, flag: 'wx' });
    io.printJson({ ok: true, keyId: k.keyId, privateKey: keyFile, publicKey: pubFile, verifyKey: k.publicInline });
    io.print(
      [
        `Key ${k.keyId}:`,
        `  private ${keyFile} (mode 0600; never copy it into the backup folder)`,
        `  public  ${pubFile}`,
        '',
        'Sign every backup on the machines that back up:',
        `  BACKUP_SIGNING_KEY=${keyFile}`,
        'Accept only signed backups where you verify and restore (several keys: comma-separated):',
        `  BACKUP_VERIFY_KEY=${k.publicInline}`,
      ].join('\n'),
    );
    return 0;
  },
};
