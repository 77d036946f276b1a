#!/usr/bin/env node
// Entry point of the `keyway` command: runs the compiled CLI (built by `npm ci` through `prepare`).
import '../dist/src/cli/main.js';
