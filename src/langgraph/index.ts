// The `hitl-mesh/langgraph` subpath: only LangGraph users import it, so the runtime's other
// users need none of LangGraph's packages (they are optional peer dependencies).
export type { JetStreamSaverOptions } from './jetStreamSaver.js';

export { CheckpointTooLargeError } from '../base/errors.js';
export { JetStreamSaver } from './jetStreamSaver.js';
