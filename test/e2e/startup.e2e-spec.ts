import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
      cwd: resolve(__dirname, '../..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ code, stderr });
    });
  });
}

describe('startup with a bad configuration', () => {
  it('stops with exit 1 and a message naming each bad variable, not a stack trace', async () => {
    const { code, stderr } = await start({
      PORT: 'eighty',
      REDIS_URL: 'http://not-redis',
      DATABASE_URL: 'mysql://x@y/z',
    });
    expect(code).toBe(1);
    expect(stderr).toContain("PORT: expected a port number (got 'eighty')");
    expect(stderr).toContain(
      'DATABASE_URL: expected a URL with scheme postgres:// or postgresql://',
    );
    expect(stderr).toContain('REDIS_URL: expected a URL with scheme redis:// or rediss://');
    expect(stderr).toContain('See .env.example');
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});
