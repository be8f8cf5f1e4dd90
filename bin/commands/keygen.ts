import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GuardError } from '../../lib/core/errors.ts';
import { generateSigningKeys } from '../../lib/format/signature.ts';
import { generateAgeKeys } from '../../lib/pipeline/age.ts';
import type { Command } from '../cli.ts';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'Make an Ed25519 key pair for signed backups (BACKUP_SIGNING_KEY / BACKUP_VERIFY_KEY), or with --age an age key for encrypted backups.',
  usage:
    'prisma-guard keygen [--age] [--out DIR] [--name NAME] [--json]\n' +
    '  Writes DIR/NAME.key (private, mode 0600: keep it on the machines that back up) and DIR/NAME.pub.\n' +
    '  --age: writes DIR/NAME.txt, an age identity file (mode 0600: keep it only where you restore) and prints\n' +
    '  its public key for BACKUP_AGE_RECIPIENTS (the machines that back up need only that).',
  options: { out: { type: 'string' }, name: { type: 'string' }, age: { type: 'boolean' } },
  async run(io) {
    const dir = path.resolve((io.values.out as string | undefined) ?? '.');
    const name = (io.values.name as string | undefined) ?? (io.values.age ? 'prisma-guard-age' : 'prisma-guard-signing');
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new GuardError('USAGE', `--name "${name}" is not a plain file name.`, { hint: 'Use letters, digits, dots, dashes.' });
    if (io.values.age) return ageKeygen(io, dir, name);
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

/** An age X25519 identity file as age-keygen writes it, and its public key. */
async function ageKeygen(io: Parameters<Command['run']>[0], dir: string, name: string): Promise<number> {
  const file = path.join(dir, `${name}.txt`);
  if (existsSync(file)) {
    throw new GuardError('USAGE', `${file} already exists; keygen never overwrites a key.`, {
      hint: 'Pass --name for a new key. Key rotation: put the new public key in BACKUP_AGE_RECIPIENTS, and append the new AGE-SECRET-KEY line to the identity file where you restore (the old line keeps old backups readable).',
    });
  }
  const { identity, recipient } = await generateAgeKeys();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600, flag: 'wx' });
  io.printJson({ ok: true, identityFile: file, recipient });
  io.print(
    [
      `age identity written to ${file} (mode 0600; keep it where you restore, never in the backup folder, and keep a copy offline: without it the backups cannot be read).`,
      '',
      'Encrypt every backup (the machines that back up need only the public key):',
      `  BACKUP_AGE_RECIPIENTS=${recipient}`,
      'Where you verify and restore:',
      `  BACKUP_AGE_IDENTITY=${file}`,
    ].join('\n'),
  );
  return 0;
}
