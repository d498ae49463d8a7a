/**
 * flowbot's import rules, checked by dependency-cruiser in `.ci/run` (`npm run check:imports`):
 * imports point one way (adapters → commands → src) with no circles, src/ imports no chat library, and
 * exactly one module imports onnxruntime-node.
 */
module.exports = {
  forbidden: [
    {
      name: 'src-is-the-core',
      comment: 'src/ never imports commands/ or adapters/.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(commands|adapters)/' },
    },
    {
      name: 'commands-do-not-import-adapters',
      comment: 'commands/ never imports adapters/.',
      severity: 'error',
      from: { path: '^commands/' },
      to: { path: '^adapters/' },
    },
    {
      name: 'no-chat-library-below-adapters',
      comment: 'Only adapters/ may import discord.js or Slack Bolt.',
      severity: 'error',
      from: { path: '^(src|commands)/' },
      to: { path: 'node_modules/(discord\\.js|@discordjs|@slack)/' },
    },
    {
      name: 'one-onnx-module',
      comment: 'Only src/pipeline/onnx.ts imports onnxruntime-node.',
      severity: 'error',
      from: { pathNot: '^src/pipeline/onnx\\.ts$' },
      to: { path: 'node_modules/onnxruntime-(node|common)/' },
    },
    {
      name: 'no-circular',
      comment:
        'No import circles, type-only imports included: a shared type or helper goes into a leaf module both sides import.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'adapters-only-translate',
      comment:
        'Adapters translate events in and surface calls out: they hold no Core, store, queue, file store, ' +
        'work executor, cluster or pipeline; what they post goes through commands/delivery.ts. The one ' +
        'exception is adapters/main.ts, the composition root, which builds the Core and wires the surfaces.',
      severity: 'error',
      from: { path: '^adapters/', pathNot: '^adapters/main\\.ts$' },
      to: { path: '^src/(app\\.ts|store/|queue/|work/|cluster/|pipeline/(?!png\\.ts$)|jobs\\.ts)' },
    },
    {
      name: 'adapters-use-the-delivery-port',
      comment:
        'Adapters reach the command layer through its entry (bot, index), the Delivery port (delivery, ' +
        'surface, transcript) and its plain types, never through the commands themselves.',
      severity: 'error',
      from: { path: '^adapters/' },
      to: {
        path: '^commands/',
        pathNot: '^commands/(bot|index|delivery|surface|transcript|types|actions)\\.ts$',
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^(test|models)/' },
  },
};
