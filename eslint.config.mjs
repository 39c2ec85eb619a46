import { defineConfig, globalIgnores } from 'eslint/config';
import nextVitals from 'eslint-config-next/core-web-vitals';
import nextTs from 'eslint-config-next/typescript';

/**
 * Layers point down (README "Architecture"):
 *   app → actions / api (route handlers) → domain → db | docker
 *   worker → sweepers → domain
 * Each entry forbids a layer's imports of the layers above it, relative or through "@/server/".
 * A dynamic import() is an arrow too and is caught the same way.
 */
const above = (dirs, files = []) => {
  const alt = [...dirs.map((d) => `${d}(/.*)?`), ...files].join('|');
  return [
    { regex: `^(\\.\\./)+(${alt})$`, message: 'Layers point down: this module may not import a higher layer (see eslint.config.mjs and the README).' },
    { regex: `^@/server/(${alt})$`, message: 'Layers point down: this module may not import a higher layer (see eslint.config.mjs and the README).' },
  ];
};
const layer = (files, patterns) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns }],
    'no-restricted-syntax': [
      'error',
      ...patterns.map((p) => ({
        selector: `ImportExpression[source.value=/${p.regex.replace(/\//g, '\\/')}/]`,
        message: p.message,
      })),
    ],
  },
});
const WEB = ['app', 'http', 'health', 'boot', 'seed'];

export default defineConfig([
  ...nextVitals,
  ...nextTs,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  layer(['server/db/**'], above(['domain', 'docker', 'sweepers', 'worker', 'actions', 'dashboard', 'auth'], WEB)),
  layer(['server/docker/**'], above(['domain', 'db', 'sweepers', 'worker', 'actions', 'dashboard', 'auth'], WEB)),
  layer(['server/k8s/**'], above(['domain', 'db', 'sweepers', 'worker', 'actions', 'dashboard', 'auth'], WEB)),
  layer(['server/runtime/**'], above(['domain', 'db', 'sweepers', 'worker', 'actions', 'dashboard', 'auth'], WEB)),
  layer(['server/domain/**'], above(['sweepers', 'worker', 'actions', 'dashboard', 'auth'], WEB)),
  layer(['server/sweepers/**'], above(['worker', 'actions', 'dashboard', 'auth'], WEB)),
  layer(['server/worker/**'], above(['actions', 'dashboard', 'auth'], ['app', 'http', 'health', 'boot'])),
  globalIgnores(['.next/**', 'node_modules/**', '.data/**', 'next-env.d.ts', 'test-results/**', 'drizzle/**', 'bench/.out/**']),
]);
