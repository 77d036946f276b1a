/**
 * The endpoint picker as a stage of `keyway serve` (docs/architecture.md "The composition root";
 * `--ext-proc-port`, docs/gateways.md): started after the first shard map, it reads the serving
 * view and reports its port as `listening.extProcPort`.
 */
import type { ServeStage } from '../core/stage.js';
import type { PickerEvents } from './processor.js';
import { startExtProcServer } from './server.js';

export interface ExtProcStageOptions {
  /** Port to bind (0: any free port, reported in `listening`). */
  readonly port: number;
  /** Where decisions and served endpoints are counted (the `keyway_picker_*` metrics). */
  readonly events?: PickerEvents;
}

/** The picker stage: binds `opts.port` on the interface the xDS server binds (`--host`). */
export function extProcStage(opts: ExtProcStageOptions): ServeStage {
  return {
    name: 'ext-proc',
    async start(ctx) {
      const server = await startExtProcServer({
        state: ctx.state,
        port: opts.port,
        host: ctx.host,
        logger: ctx.logger,
        ...(opts.events ? { events: opts.events } : {}),
      });
      return { close: () => server.close(), listening: { extProcPort: server.port } };
    },
  };
}
