/** The file source: the topology file, watched and reloaded. */
export { FileSource, type FileSourceOptions, DEFAULT_FILE_DEBOUNCE, DEFAULT_FILE_POLL_MS } from './file-source.js';
