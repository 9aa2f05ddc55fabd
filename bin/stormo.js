#!/usr/bin/env node
// The `stormo` command. Needs Node.js 24 (npm start / npx stormo use the one the package brings).
import { runCli } from '../src/cli/main.ts';

runCli(process.argv.slice(2));
