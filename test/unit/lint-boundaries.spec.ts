import { spawn } from 'node:child_process';
import { dirname, relative, resolve } from 'node:path';

const root = resolve(__dirname, '../..');

/** ESLint's no-restricted-imports findings for `source`, linted as if it were the file at `path`. */
function restrictedImports(path: string, source: string): Promise<string[]> {
  return new Promise((done, fail) => {
    const child = spawn(
      resolve(root, 'node_modules/.bin/eslint'),
      [
        '--no-config-lookup',
        '--config',
        'test/support/eslint-boundaries.config.mjs',
        '--stdin',
        '--stdin-filename',
        path,
        '--format',
        'json',
      ],
      { cwd: root },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', fail);
    child.on('close', () => {
      try {
        const [result] = JSON.parse(out) as Array<{
          messages: Array<{ ruleId: string | null; message: string }>;
        }>;
        done(
          result.messages
            .filter((m) => m.ruleId === 'no-restricted-imports')
            .map((m) => m.message.split("'")[1]),
        );
      } catch (error) {
        fail(new Error(`eslint answered ${out.slice(0, 500)}: ${String(error)}`));
      }
    });
    child.stdin.end(source);
  });
}

describe('the lint rule keeps modules to each other’s index.ts', () => {
  it('flags a sibling module’s deep import from a module file and from a folder inside it', async () => {
    // The rules of eslint.config.mjs, on text given as these paths (nothing is written).
    const top = await restrictedImports(
      'src/modules/auth/boundary-probe.ts',
      [
        "import { TenantEntity } from '../tenancy/tenant.entity';",
        "import { ApiKeysService } from '../tenancy';",
        "import { commonError } from '../../shared/errors';",
        "import { x } from '../../modules/tenancy/tenant.entity';",
        'export const all = [TenantEntity, ApiKeysService, commonError, x];',
      ].join('\n'),
    );
    expect(top.sort()).toEqual(['../../modules/tenancy/tenant.entity', '../tenancy/tenant.entity']);

    const nested = await restrictedImports(
      'src/modules/auth/dto/boundary-probe.ts',
      [
        "import { TenantEntity } from '../../tenancy/tenant.entity';",
        "import { authError } from '../auth.errors';",
        "import { TenancyModule } from '../../tenancy';",
        "import { commonError } from '../../../shared/errors';",
        'export const all = [TenantEntity, authError, TenancyModule, commonError];',
      ].join('\n'),
    );
    expect(nested).toEqual(['../../tenancy/tenant.entity']);
  });

  it('refuses an absolute src/… import in every part of src, and takes the relative path', async () => {
    const paths = [
      'src/modules/auth/boundary-probe.ts',
      'src/modules/tenancy/database/boundary-probe.ts',
      'src/shared/auth/boundary-probe.ts',
      'src/cli/boundary-probe.ts',
    ];
    const found = await Promise.all(
      paths.map((path) =>
        restrictedImports(
          path,
          [
            "import { TenancyModule } from 'src/modules/tenancy';",
            "import { commonError } from 'src/shared/errors';",
            `import { AppError } from '${relative(dirname(path), 'src/shared/errors')}';`,
            'export const all = [TenancyModule, commonError, AppError];',
          ].join('\n'),
        ),
      ),
    );
    for (const flagged of found) {
      expect([...new Set(flagged)].sort()).toEqual(['src/modules/tenancy', 'src/shared/errors']);
    }
  });

  it('keeps src/shared away from src/modules', async () => {
    const shared = await restrictedImports(
      'src/shared/auth/boundary-probe.ts',
      "import { AuthModule } from '../../modules/auth';\nexport const all = [AuthModule];",
    );
    expect(shared).toEqual(['../../modules/auth']);
  });
});
