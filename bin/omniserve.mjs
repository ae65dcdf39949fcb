#!/usr/bin/env node
// The `omniserve` command on Node: registers tsx (TypeScript loader) and runs the Node entry.
import { register } from 'tsx/esm/api';

register();
await import('../runtimes/node/main.ts');
